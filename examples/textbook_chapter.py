"""The chapter "Your First Training Loop", verbatim (re-indented) from shared/seed/training_loop.md."""

# ruff: noqa
# The chapter's code (sections 7.3, 7.4 and 7.7), re-indented, otherwise verbatim.
import numpy as np
from tensorweaver import Tensor

# Data: Celsius to Fahrenheit
celsius = Tensor([[0.0], [20.0], [40.0], [60.0], [80.0], [100.0]])
fahrenheit = Tensor([[32.0], [68.0], [104.0], [140.0], [176.0], [212.0]])
# Initialize parameters randomly
np.random.seed(42)
w = Tensor(np.random.randn(1, 1), requires_grad=True) # Should learn 1.8
b = Tensor(np.random.randn(1), requires_grad=True) # Should learn 32
print(f"Initial: w={w.data.item():.3f}, b={b.data.item():.3f}")
# Training hyperparameters
lr = 0.0001 # Learning rate
epochs = 1000
# Training loop
for epoch in range(epochs):
    # Forward pass
    pred = celsius @ w.T + b
    # Compute loss
    diff = pred - fahrenheit
    loss = (diff ** 2).mean()
    # Backward pass
    loss.backward()
    # Update parameters (gradient descent)
    w.data -= lr * w.grad
    b.data -= lr * b.grad
    # Reset gradients for next iteration
    w.grad = None
    b.grad = None
    # Print progress
    if epoch % 200 == 0:
        print(f"Epoch {epoch}: loss={loss.data:.4f}, w={w.data.item():.3f}, b={b.data.item():.3f}")
print(f"\nFinal: w={w.data.item():.3f}, b={b.data.item():.3f}")
print(f"Target: w=1.800, b=32.000")

# 7.4
test_celsius = Tensor([[37.0]]) # Body temperature
test_pred = test_celsius @ w.T + b
print(f"37°C = {test_pred.data.item():.1f}°F")

# 7.7
def train_temperature_model(epochs=1000, lr=0.0001):
    # Data
    celsius = Tensor([[0.0], [20.0], [40.0], [60.0], [80.0], [100.0]])
    fahrenheit = Tensor([[32.0], [68.0], [104.0], [140.0], [176.0], [212.0]])
    # Parameters
    w = Tensor([[1.0]], requires_grad=True)
    b = Tensor([0.0], requires_grad=True)
    for epoch in range(epochs):
        # Forward
        pred = celsius @ w.T + b
        loss = ((pred - fahrenheit) ** 2).mean()
        # Backward
        loss.backward()
        # Update
        w.data -= lr * w.grad
        b.data -= lr * b.grad
        # Reset
        w.grad = None
        b.grad = None
    return w, b
w, b = train_temperature_model()
print(f"Learned: F = C × {w.data.item():.3f} + {b.data.item():.3f}")

