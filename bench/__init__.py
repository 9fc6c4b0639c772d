"""Performance benchmark of the expert search: a synthetic pool built from real
Chinese paper metadata (`bench.generate`) and the measurements (`bench.run`)."""
