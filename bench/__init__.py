"""`make bench`: the performance contract of docs/design.md §7, measured against mockllm."""
