"""The errors of the motion file readers (`pose.formats`, `pose.plausibility`; docs/motion_data.md): every
unusable clip or manifest raises `MotionFileError` with one line naming the file, the key and what was
expected; a clip usable after a repair warns once with `MotionFileWarning`. `pose.formats` hands both on."""


class MotionFileError(ValueError):
    """A motion clip or manifest that cannot be used; the message names file, key and expectation."""


class MotionFileWarning(UserWarning):
    """A motion clip that was usable after a repair (e.g. renormalised quaternions); names the file."""


def file_error(path, key, msg) -> MotionFileError:
    """The one-line MotionFileError of every reader: `FILE: key 'KEY': MSG` (or `FILE: MSG`)."""
    where = "{}: key {!r}: ".format(path, key) if key else "{}: ".format(path)
    return MotionFileError(where + msg)
