"""Clear errors for files that are not checkpoints, on every load path.

When ``torch.load`` cannot open a file (garbage bytes, a download cut short,
a text file, an empty file) its weights-only loader answers with a generic
message that advises re-running with ``weights_only=False``: advice that
would let a malicious file run code, and a message that does not say what is
wrong with the file. A pickle refused for safety gets the same message.

Every checkpoint that mmengine loads goes through
:meth:`mmengine.runner.CheckpointLoader.load_checkpoint` (``load_from``,
``--resume``, ``tools/test.py``, ``load_checkpoint``, ``DetInferencer``,
``init_cfg=dict(type='Pretrained')``, mmdet's own tools). On import, this
module wraps that one method, once: a failure raised inside ``torch.load``
becomes

* :class:`UnreadableCheckpointError` (a ``ValueError``): the file is named,
  with what it is instead (empty, cut short, a text file beginning with ...,
  not a torch file) and the fix (check the path, download or copy again);
* :class:`RefusedCheckpointError` (an ``UnpicklingError``): the file is
  named, with what it asked to run, why that is refused, and what to do
  (convert it with a trusted tool into a plain checkpoint).

Neither ever suggests switching the check off, and torch's message is not
chained onto them. Missing files and other errors pass unchanged.
:func:`load_checkpoint_file` gives our own direct loads the same errors.
"""
import os
import pickle
import re
import sys
import zipfile
from typing import Optional

import torch
from mmengine.runner.checkpoint import CheckpointLoader

#: The start of a zip archive: what ``torch.save`` writes since torch 1.6.
_ZIP_MAGIC = b'PK\x03\x04'
#: The start of torch's legacy (pre-1.6) format: a pickled magic number.
_LEGACY_MAGIC = b'\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19'

FIX_UNREADABLE = ('Check that the path names a checkpoint written by '
                  'torch.save (an mmdet / mmengine .pth file); if it was '
                  'downloaded or copied, download or copy it again and '
                  'compare its size or checksum with the source.')
FIX_REFUSED = ('If you trust where the file comes from, convert it with a '
               'trusted tool into a plain checkpoint of tensors (e.g. where '
               'it was made: torch.save({"state_dict": model.state_dict()}, '
               '"converted.pth")); otherwise delete it.')


class CheckpointLoadError(Exception):
    """A checkpoint file could not be loaded.

    Attributes:
        filename (str): The file (or URL) as it was given.
        reason (str): What is wrong with it.
        fix (str): What to do about it.
    """

    def __init__(self, filename: str, reason: str, fix: str):
        self.filename, self.reason, self.fix = str(filename), reason, fix
        super().__init__(self.describe())

    def describe(self) -> str:
        raise NotImplementedError

    def __reduce__(self):  # picklable, e.g. across worker processes
        return type(self), (self.filename, self.reason, self.fix)


class UnreadableCheckpointError(CheckpointLoadError, ValueError):
    """The file is not a readable checkpoint (empty, cut short, not written
    by ``torch.save``)."""

    def describe(self) -> str:
        return (f'{self.filename} is not a readable checkpoint: '
                f'{self.reason}. {self.fix}')


class RefusedCheckpointError(CheckpointLoadError, pickle.UnpicklingError):
    """The file is a pickle that weights-only loading refuses to unpickle,
    because it asks to run code."""

    def describe(self) -> str:
        return (f'{self.filename} was refused for safety: {self.reason}. '
                f'{self.fix}')


def load_checkpoint_file(filename, map_location='cpu',
                         refused_fix: str = FIX_REFUSED):
    """``torch.load(filename, weights_only=True)`` with the errors of this
    module.

    Args:
        filename (str | Path): A local checkpoint file.
        map_location: As for ``torch.load``. Defaults to ``'cpu'``.
        refused_fix (str): What to advise for a refused pickle.

    Raises:
        UnreadableCheckpointError: The file is not a readable checkpoint.
        RefusedCheckpointError: The file asks to run code.
        OSError: The file cannot be opened (missing, no permission).
    """
    try:
        return torch.load(filename, map_location=map_location,
                          weights_only=True)
    except OSError:
        raise
    except Exception as err:  # noqa: BLE001 - torch raises many types
        raise checkpoint_error(filename, err, refused_fix) from None


def checkpoint_error(filename, err: BaseException,
                     refused_fix: str = FIX_REFUSED) -> CheckpointLoadError:
    """The error to raise for ``err``, raised by ``torch.load`` on
    ``filename``."""
    text = str(err)
    refused = _refused_call(text) if isinstance(
        err, pickle.UnpicklingError) else None
    if refused is not None:
        return RefusedCheckpointError(
            filename,
            f'it is a pickle that asks to run {refused}, which weights-only '
            'loading does not allow, since unpickling such a file can run '
            'any code it holds (checkpoints written by mmengine and mmdet '
            'need no such thing)', refused_fix)
    return UnreadableCheckpointError(filename, _why_unreadable(filename, err),
                                     FIX_UNREADABLE)


def _refused_call(text: str) -> Optional[str]:
    """What a weights-only refusal names (``'posix.system'``), or None when
    the message is not a refusal or names something that does not exist (a
    file cut short inside a name)."""
    match = re.search(r'refused (getattr\([^)]*\))', text)
    if match:  # our HistoryBuffer getattr (checkpoint_safety)
        return match.group(1)
    match = re.search(r'(?:unsupported GLOBAL|Unsupported global: GLOBAL|'
                      r'Unsupported class) ([\w.]+)', text)
    if match is None or not _may_exist(match.group(1)):
        return None
    return match.group(1)


def _may_exist(name: str) -> bool:
    """False when ``name`` (``module.attr``) is certainly not a real
    global: its module is imported and lacks the attribute."""
    module, _, attr = name.rpartition('.')
    if module not in sys.modules:
        return True  # not imported here: cannot tell, take it as named
    obj = sys.modules[module]
    for part in attr.split('.'):
        if not hasattr(obj, part):
            return False
        obj = getattr(obj, part)
    return True


def _torch_detail(err: BaseException) -> str:
    """The useful part of torch's message: the unpickler's own error, or the
    first line, without torch's advice."""
    text = str(err)
    match = re.search(r'WeightsUnpickler error:\s*(.+)', text)
    if match:
        text = match.group(1)
    line = text.strip().splitlines()[0] if text.strip() else ''
    line = re.split(r'\. (?:This is an internal|Please use|Re-running)',
                    line)[0].rstrip('.')
    detail = f'{type(err).__name__}: {line}' if line else type(err).__name__
    return detail[:200]


def _why_unreadable(filename, err: BaseException) -> str:
    """What the file is, read from its first bytes where it is local."""
    detail = _torch_detail(err)
    path = os.fspath(filename) if isinstance(filename,
                                              (str, os.PathLike)) else None
    if path is None or not os.path.isfile(path):
        return f'torch cannot load it ({detail})'
    size = os.path.getsize(path)
    with open(path, 'rb') as f:
        head = f.read(512)
    if size == 0:
        return 'the file is empty (0 bytes)'
    if head.startswith(_ZIP_MAGIC):
        if not zipfile.is_zipfile(path):
            return (f'it is cut short or damaged: its zip archive has no end '
                    f'({size} bytes; an interrupted download or copy leaves '
                    f'a file like this) ({detail})')
        return f'it is a zip archive, but not one torch.save wrote ({detail})'
    if head.startswith(_LEGACY_MAGIC):
        return (f'it is in torch\'s legacy format but cut short or damaged '
                f'({size} bytes) ({detail})')
    text = _as_text(head)
    if text is not None:
        first = text.strip().splitlines()[0][:60] if text.strip() else ''
        hint = ''
        if first.startswith('version https://git-lfs'):
            hint = ' (a Git LFS pointer: fetch the file with git lfs pull)'
        elif first.lower().startswith(('<!doctype', '<html', '<?xml')):
            hint = ' (a web page: the download returned a page, not the file)'
        return f'it is a text file beginning {first!r}{hint}'
    return (f'its content is not what torch.save writes ({size} bytes '
            f'beginning {head[:8].hex(" ")}) ({detail})')


def _as_text(head: bytes) -> Optional[str]:
    """``head`` decoded, if it reads as text."""
    try:
        text = head.decode('utf-8')
    except UnicodeDecodeError:
        # a multi-byte character cut at the end of the head is still text
        try:
            text = head[:-3].decode('utf-8')
        except UnicodeDecodeError:
            return None
    printable = sum(c.isprintable() or c in '\n\r\t' for c in text)
    return text if printable >= 0.95 * max(len(text), 1) else None


def _raised_in_torch_load(err: BaseException) -> bool:
    """Whether ``err`` was raised inside ``torch.load``."""
    tb = err.__traceback__
    while tb is not None:
        name = tb.tb_frame.f_code.co_filename.replace(os.sep, '/')
        if name.endswith(('torch/serialization.py',
                          'torch/_weights_only_unpickler.py')):
            return True
        tb = tb.tb_next
    return False


def _install() -> None:
    """Wrap ``CheckpointLoader.load_checkpoint`` (once) so that failures of
    ``torch.load`` raise the errors of this module."""
    current = CheckpointLoader.__dict__['load_checkpoint'].__func__
    if getattr(current, '_mmdet_parnet_wrapped', False):
        return

    def load_checkpoint(cls, filename, map_location=None, logger='current'):
        try:
            return current(cls, filename, map_location, logger)
        except (OSError, CheckpointLoadError):
            raise
        except Exception as err:  # noqa: BLE001 - torch raises many types
            if not _raised_in_torch_load(err):
                raise
            raise checkpoint_error(filename, err) from None

    load_checkpoint.__doc__ = current.__doc__
    load_checkpoint._mmdet_parnet_wrapped = True
    CheckpointLoader.load_checkpoint = classmethod(load_checkpoint)


_install()
