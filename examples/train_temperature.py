"""Train F = w * C + b on six points: the textbook loop as written, then a variant that converges.

python examples/train_temperature.py                 # CPU (NumPy)
python examples/train_temperature.py --device cuda   # CUDA (CuPy); --device auto picks it when present
"""

from __future__ import annotations

import argparse

import numpy as np

import tensorweaver as tw
from tensorweaver import Tensor

CELSIUS = [[0.0], [20.0], [40.0], [60.0], [80.0], [100.0]]
FAHRENHEIT = [[32.0], [68.0], [104.0], [140.0], [176.0], [212.0]]


def fit(device: str, epochs: int, lr: float, scale: float = 1.0) -> tuple[float, float]:
    """The chapter's loop on inputs ``C / scale``; returns (w, b) for Celsius (w divided by ``scale``).

    With ``scale=1`` it is the textbook loop unchanged but for ``device=``: plain gradient descent
    on raw Celsius. ``scale=100`` puts the inputs in [0, 1], which makes the problem well
    conditioned, so a large learning rate converges.
    """
    celsius = Tensor(CELSIUS, device=device)
    if scale != 1.0:
        celsius = celsius / scale
    fahrenheit = Tensor(FAHRENHEIT, device=device)
    np.random.seed(42)
    w = Tensor(np.random.randn(1, 1), device=device, requires_grad=True)  # Should learn 1.8
    b = Tensor(np.random.randn(1), device=device, requires_grad=True)  # Should learn 32
    print(f"Initial: w={w.data.item() / scale:.3f}, b={b.data.item():.3f}")
    for epoch in range(epochs):
        pred = celsius @ w.T + b
        loss = ((pred - fahrenheit) ** 2).mean()
        loss.backward()
        w.data -= lr * w.grad
        b.data -= lr * b.grad
        w.grad = None
        b.grad = None
        if epoch % 200 == 0:
            print(f"Epoch {epoch}: loss={loss.data:.4f}, w={w.data.item() / scale:.3f}, b={b.data.item():.3f}")
    w_c, b_c = w.item() / scale, b.item()
    print(f"Final: w={w_c:.3f}, b={b_c:.3f}   (target: w=1.800, b=32.000)")
    return w_c, b_c


def textbook_loop(device: str, epochs: int = 1000, lr: float = 1e-4) -> tuple[float, float]:
    """The chapter's loop: lr = 1e-4 on raw Celsius."""
    return fit(device, epochs, lr)


def normalized_loop(device: str, epochs: int = 1000, lr: float = 0.5) -> tuple[float, float]:
    """The same model on inputs scaled to [0, 1] (C / 100): well conditioned, so it converges."""
    return fit(device, epochs, lr, scale=100.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:N, or auto")
    parser.add_argument("--epochs", type=int, default=1000)
    args = parser.parse_args()
    device = args.device
    if device == "auto":
        device = "cuda" if tw.cuda.is_available() else "cpu"
    try:
        tw.tensor(0.0, device=device)
    except (tw.backends.BackendUnavailable, ValueError) as e:
        raise SystemExit(f"error: {e}") from None
    print(f"device: {device}\n")
    print("== The textbook loop: lr = 1e-4 on raw Celsius ==")
    textbook_loop(device, args.epochs)
    print("\n== Inputs scaled to [0, 1] (C / 100), lr = 0.5 ==")
    w, b = normalized_loop(device, args.epochs)
    print(f"\n37°C = {w * 37 + b:.1f}°F")


if __name__ == "__main__":
    main()
