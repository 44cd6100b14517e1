import XCTest
@testable import StafettXML

/// A second, independent XSD processor (Xerces in the JDK) must agree with libxml2 about
/// every example, so the schemas do not depend on one library's quirks. Skipped without `java`.
final class CrossValidationTests: XCTestCase {
    static let validatorSource = """
        import javax.xml.XMLConstants;
        import javax.xml.transform.stream.StreamSource;
        import javax.xml.validation.*;
        import java.io.File;
        public class Validate {
          public static void main(String[] a) throws Exception {
            SchemaFactory f = SchemaFactory.newInstance(XMLConstants.W3C_XML_SCHEMA_NS_URI);
            Schema c = f.newSchema(new File(a[0], "case-1.xsd"));
            Schema r = f.newSchema(new File(a[0], "receipt-1.xsd"));
            for (int i = 1; i < a.length; i++) {
              File x = new File(a[i]);
              Schema s = x.getName().startsWith("receipt-") ? r : c;
              try { s.newValidator().validate(new StreamSource(x)); System.out.println("VALID " + x.getName()); }
              catch (Exception e) { System.out.println("INVALID " + x.getName()); }
            }
          }
        }
        """

    private func findJava() -> String? {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":") {
            let path = "\(dir)/java"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }

    func testXercesAgreesWithLibxml2OnEveryExample() throws {
        guard let java = findJava() else { throw XCTSkip("java is not installed") }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("stafett-xsd-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let source = dir.appendingPathComponent("Validate.java")
        try Self.validatorSource.write(to: source, atomically: true, encoding: .utf8)

        let valid = Fixtures.xmlFiles(in: Fixtures.examples)
        let invalid = Fixtures.xmlFiles(in: Fixtures.invalid)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: java)
        process.arguments = [source.path, Fixtures.schemas.path] + (valid + invalid).map(\.path)
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)
        let expected = valid.map { "VALID \($0.lastPathComponent)" } + invalid.map { "INVALID \($0.lastPathComponent)" }
        XCTAssertEqual(output.split(separator: "\n").map(String.init), expected)
    }
}
