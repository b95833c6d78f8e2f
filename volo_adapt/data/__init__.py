"""RGB-D data: in-memory samples, on-disk formats, sources, validation and the unpaired DataModule."""
