"""Network depth in the sense of the ParNet paper, counted from the graph.

Goyal et al. define depth as "the length of the longest path from an input
neuron to an output neuron", in layers, and count a RepVGG block (fused to
one 3x3 conv at inference) as one layer. :func:`count_depth` measures that
on the model itself, not from a table:

* **What counts as a layer**: one call of a weighted module, i.e. of an
  ``nn.Conv1d/2d/3d``, ``nn.ConvTranspose1d/2d/3d`` or ``nn.Linear`` (mmcv's
  ``ConvModule`` counts through the conv inside it). BN, activations,
  pooling, up-sampling, concatenation, additions and products are free.
* **Which path**: the model runs once on a zero input that requires
  gradients; forward hooks mark the autograd node each weighted call
  produced; the longest chain of marked nodes on any path of the autograd
  graph from the input to any output is the depth. Paths that start at a
  parameter or buffer (not at the input) do not count, so a weight never
  adds depth. Residual, parallel and fusion structure is handled by
  construction: a block whose skip is shorter counts its longer branch.
* **Form**: count a re-parameterisable network in its deployed form
  (:func:`deployed_copy`), where each ParNet block is one 3x3 conv. The
  training form gives the same number for ParNet (its 3x3 and 1x1 branches
  are parallel, one conv each), but that is a property of ParNet, not of
  the rule.
* **Gates**: the SE / SSE 1x1 convs of ParNet run on a globally pooled copy
  of a block's input, in parallel with the block's own conv, and their
  sigmoid scales the block's output. They are counted like any conv, and
  never lengthen the path: gate and block conv both read the block input
  and meet at the block output, one conv each. (The paper: "the SSE branch
  increases receptive field while not affecting depth".)
* **The classifier**: the paper's depths are those of ImageNet classifiers,
  whose last layer is the fully-connected classifier: ParNet is 11 convs on
  its longest path plus the FC, 12; Darknet-53 is 52 convs plus the FC, 53
  (the name counts it too, as ResNet-50 does). :func:`paper_depth` puts the
  classifier (global average pooling and one ``nn.Linear``) on a backbone's
  deepest output and counts; :func:`count_depth` on the bare backbone gives
  the convs alone (11 and 52), and on a detector's tensor forward the
  longest path through backbone, neck and head.
"""
import copy
from typing import Dict, Sequence, Union

import torch
import torch.nn as nn

#: The modules whose calls are layers.
WEIGHTED_LAYERS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d,
                   nn.ConvTranspose2d, nn.ConvTranspose3d, nn.Linear)

_UNREACHABLE = -1


def _tensors(value) -> list:
    """Every tensor in a (nested) tuple / list / dict output."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _tensors(v)]
    return []


def _longest(node, marked: Dict[int, object], source: torch.Tensor,
             memo: Dict[int, int]) -> int:
    """Most marked nodes on a path from ``node`` back to ``source``'s
    gradient accumulator (``_UNREACHABLE`` if there is none); iterative, as
    a 50-layer network's graph is deeper than Python's recursion limit."""
    stack = [(node, False)]
    while stack:
        current, expanded = stack.pop()
        key = id(current)
        if key in memo:
            continue
        children = [n for n, _ in current.next_functions if n is not None]
        if not expanded:
            if getattr(current, 'variable', None) is source:
                memo[key] = 0
                continue
            stack.append((current, True))
            stack.extend((c, False) for c in children if id(c) not in memo)
            continue
        best = max((memo[id(c)] for c in children), default=_UNREACHABLE)
        if best != _UNREACHABLE and key in marked:
            best += 1
        memo[key] = best
    return memo[id(node)]


def count_depth(model: nn.Module,
                input_size: Sequence[int] = (64, 64),
                in_channels: int = 3,
                per_output: bool = False) -> Union[int, list]:
    """Weighted layers (conv / linear calls) on the longest path from the
    input to an output of ``model`` (see the module docstring for the rule).

    Args:
        model (nn.Module): Called as ``model(x)`` on one zero image; in eval
            mode for the count (its mode is restored).
        input_size (Sequence[int]): ``(H, W)`` of the image. Depth does not
            depend on it, as long as the model accepts it.
        in_channels (int): Channels of the image.
        per_output (bool): Return the depth of each output tensor (in the
            order of the flattened output) instead of the largest.

    Returns:
        int | list[int]: The depth; 0 for an output that no weighted layer
        computes, -1 for one that does not depend on the input.
    """
    marked: Dict[int, object] = {}  # id -> node, kept alive while counting

    def hook(module, args, output):
        for tensor in _tensors(output):
            if tensor.grad_fn is not None:
                marked[id(tensor.grad_fn)] = tensor.grad_fn

    handles = [
        m.register_forward_hook(hook) for m in model.modules()
        if isinstance(m, WEIGHTED_LAYERS)
    ]
    modes = [(m, m.training) for m in model.modules()]
    x = torch.zeros(1, in_channels, *input_size, requires_grad=True)
    try:
        model.eval()
        with torch.enable_grad():
            outputs = _tensors(model(x))
    finally:
        for handle in handles:
            handle.remove()
        for module, mode in modes:  # as they were, without train() hooks
            module.training = mode
    if not outputs:
        raise ValueError(f'{type(model).__name__} returned no tensor to '
                         f'count the depth of')
    memo: Dict[int, int] = {}
    depths = [
        _longest(t.grad_fn, marked, x, memo) if t.grad_fn is not None else
        (0 if t is x else _UNREACHABLE) for t in outputs
    ]
    return depths if per_output else max(depths)


class WithClassifier(nn.Module):
    """A backbone with an ImageNet-style classifier on its deepest (last)
    output: global average pooling and one fully-connected layer, as the
    paper's ParNet and Darknet-53 end."""

    def __init__(self, backbone: nn.Module, num_classes: int = 1000) -> None:
        super().__init__()
        self.backbone = backbone
        # Sized on the first call, for any output width (an nn.Linear).
        self.fc = nn.LazyLinear(num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feature = _tensors(self.backbone(x))[-1]
        return self.fc(feature.mean((2, 3)))


def deployed_copy(model: nn.Module) -> nn.Module:
    """A copy of ``model`` in eval mode with every ``switch_to_deploy()``
    called (re-parameterised ParNet); the model itself is left as it is."""
    from ..engine import switch_to_deploy
    model = copy.deepcopy(model)
    switch_to_deploy(model)  # eval() first
    return model


def paper_depth(backbone: nn.Module,
                input_size: Sequence[int] = (64, 64)) -> int:
    """Depth as the paper counts it: the deployed backbone with a classifier
    (global pooling and one FC) on its deepest output. 12 for every ParNet,
    53 for Darknet-53."""
    classifier = WithClassifier(deployed_copy(backbone))
    classifier.eval()  # some backbones' train() returns None
    return count_depth(classifier, input_size)
