"""L1 event data: the 19-object layout, ADC2021 HDF5 I/O, hardware encoding, ROOT ntuples, generation."""
