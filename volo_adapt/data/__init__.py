"""RGB-D data: in-memory samples, on-disk formats, sources, validation, packing/streaming, the unpaired DataModule."""

import os

# litdata asks PyPI for a newer release each time a dataset is opened (up to a 30 s timeout); training nodes are
# often offline and the answer changes nothing here, so the check is off unless the user turns it on.
os.environ.setdefault("LITDATA_DISABLE_VERSION_CHECK", "1")
