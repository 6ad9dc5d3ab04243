"""`make bench`: the performance contract of DESIGN §7, measured against mockllm."""
