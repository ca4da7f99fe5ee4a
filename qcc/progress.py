"""A plain-text progress bar on stderr, shown only on a terminal."""

from qcc.calibration.collect import Progress as _CalibrationProgress


class Progress(_CalibrationProgress):
    def __init__(self, total, label="", unit="samples", stream=None, enabled=None):
        super().__init__(total, label, stream, enabled)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
