print("stafettd: not yet")
