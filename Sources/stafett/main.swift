print("stafett: not yet")
