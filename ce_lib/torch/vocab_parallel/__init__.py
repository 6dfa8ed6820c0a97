"""Cross entropy with the vocabulary split across the ranks of a ``torch.distributed`` group.

:func:`vocab_parallel_cross_entropy` takes each rank's slice of the logits;
``ce_lib.torch.linear_cross_entropy(..., group=...)`` takes each rank's rows of the output layer
and never forms the logits. :mod:`.launch` runs a function on several local CPU processes
(gloo), with timeouts, for tests and the book.
"""

from ._functions import vocab_parallel_cross_entropy

__all__ = ["vocab_parallel_cross_entropy"]
