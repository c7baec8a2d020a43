"""The one exception type that every unreadable or refused checkpoint raises."""
import pickle

NOTHING_EXECUTED = "Nothing in the file was executed."


class CheckpointError(ValueError, pickle.UnpicklingError):
    """A checkpoint file is corrupt, truncated, of an unsupported kind, or was refused as unsafe.

    Subclasses ``ValueError`` (the file's content is a bad value) and ``pickle.UnpicklingError``
    (so code that already catches PyTorch's ``torch.load(weights_only=True)`` refusals keeps
    working). The message says what is wrong with the file and always ends by stating that
    nothing in the file was executed: the loader never imports or calls anything the file names.
    """


def checkpoint_error(source: str, problem: str) -> CheckpointError:
    """A ``CheckpointError`` whose message names the file and states that nothing ran."""
    return CheckpointError(f"cannot load checkpoint {source}: {problem}. {NOTHING_EXECUTED}")
