#ifndef STAFETT_CLIBXML2_SHIM_H
#define STAFETT_CLIBXML2_SHIM_H
// Debian's libxml2 headers pull in system ICU, which collides with the ICU
// Foundation carries ("'UErrorCode' has different definitions"). We never use
// libxml2's ICU support, so hide it before any other libxml2 header.
#include <libxml/xmlversion.h>
#undef LIBXML_ICU_ENABLED
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlschemas.h>
#include <libxml/c14n.h>
#include <libxml/xpath.h>
#include <libxml/xmlsave.h>
#include <libxml/xmlIO.h>
#include <libxml/globals.h>

// xmlFree is a C global (a function pointer), which Swift 6 strict
// concurrency refuses; call it through a function.
static inline void stafett_xml_free(void *p) { xmlFree(p); }
#endif
