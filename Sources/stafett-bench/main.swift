print("stafett-bench: not yet")
