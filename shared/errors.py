"""One error family. Every message says what is wrong and how to fix it."""


class RagqError(Exception):
    """Base of every error ragq reports to a user as one line."""

    exit_code = 1


class UsageError(RagqError):
    """An option or argument has a value ragq cannot use."""

    exit_code = 2


class UnknownNameError(RagqError):
    """A name (model, index, question set, run) is not known."""


class UnknownModelError(UnknownNameError):
    """A model name is not in the catalog."""


class ModelLoadError(RagqError):
    """A model file is missing, is not GGUF, or llama.cpp could not load it."""


class DocumentError(RagqError):
    """A document could not be read or holds no text."""


class QuestionFileError(RagqError):
    """A question/answer file could not be parsed."""


class CorpusIndexError(RagqError):
    """An index is missing or damaged."""


class ContextTooLargeError(RagqError):
    """A prompt does not fit the model's context even with no retrieved chunks."""


class BrokerUnavailable(RagqError):
    """The Redis broker does not answer."""


class DatabaseError(RagqError):
    """The database cannot be reached or its schema is out of date."""


class ResourceError(RagqError):
    """The machine lacks what a model needs (memory)."""


class GenerationStopped(RagqError):
    """A generation was stopped before its end because its caller no longer wanted it (a worker whose lease on the
    job was lost)."""


class GrammarError(RagqError):
    """A grammar that constrains a model's output was not applied: llama.cpp could not parse it, or an output that
    ended by itself does not follow it."""
