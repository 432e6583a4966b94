"""The official US-Nets sandwich step in PyTorch, for "slimkeras step ÷ official step".

The model is our PyTorch rebuild of the official US-MobileNet v1 (the one the checkpoint
import tests use: `tests/test_official_reference.py`, the official module structure and
maths); the step is the official training loop's (JiahuiYu/slimmable_networks
`train.py`, universal mode): for each width of the step (max, min, then the drawn ones)
set the width, forward, loss (the labels for the widest, the widest's detached softmax as
the soft target for the others under in-place distillation), backward (the gradients add
up in `.grad`), then one SGD step. Universal BN normalizes with the batch statistics of the
active channels, as the official `USBatchNorm2d` does in training (`track_running_stats=False`).
"""

import os
import sys
import types

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def reference():
    """The tests' reference module (PyTorch models of the official architectures)."""
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    try:
        import test_official_reference
    finally:
        sys.path.pop(0)
    return test_official_reference


def official_step(widths, batch, size, classes, device="cpu", precision="float32", inplace_distill=True):
    """A callable running one official sandwich step over `widths` on random data, waited for.

    precision: "float32", or "mixed_float16" (autocast to float16 with a GradScaler, the
    PyTorch counterpart of Keras' mixed_float16 with loss scaling; CUDA only).
    """
    import torch
    import torch.nn.functional as F

    ref = reference()
    torch.set_num_threads(os.cpu_count() or 1)  # the tests' module pins one thread
    model = ref.mobilenet_v1([1.0], True, classes).to(device).train()
    for module in model.modules():
        if isinstance(module, ref.UniversalBN):
            module.forward = types.MethodType(_training_bn, module)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 3, size, size, generator=generator).to(device)
    y = torch.randint(0, classes, (batch,), generator=generator).to(device)
    mixed = precision == "mixed_float16"
    scaler = torch.amp.GradScaler(device, enabled=mixed)

    def step():
        optimizer.zero_grad(set_to_none=True)
        teacher = None
        for i, width in enumerate(widths):
            ref.CTX.reset(float(width), None)
            with torch.autocast(device, dtype=torch.float16, enabled=mixed):
                logits = model(x).float()
            if teacher is None:
                loss = F.cross_entropy(logits, y)
            else:
                loss = -(F.softmax(teacher, 1) * F.log_softmax(logits, 1)).sum(1).mean()
            scaler.scale(loss).backward()
            if i == 0 and inplace_distill:
                teacher = logits.detach()
        scaler.step(optimizer)
        scaler.update()
        if device == "cuda":
            torch.cuda.synchronize()
        else:
            loss.item()

    return step


def _training_bn(module, x):
    """The official USBatchNorm2d in training: batch statistics, the shared affine sliced."""
    import torch.nn.functional as F

    c = x.shape[1]
    return F.batch_norm(x, None, None, module.weight[:c], module.bias[:c], True, 0.0, module.eps)
