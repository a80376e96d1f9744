"""The PyTorch baselines (same math as models_numpy.py); ``torch`` is passed in, never imported here."""

from __future__ import annotations

from .common import CELSIUS, FAHRENHEIT, LR_MLP, LR_TEXTBOOK, mlp_init, textbook_init


class TextbookTorch:
    """The chapter's loop in PyTorch. NOTE: torch's matmul does not promote dtypes, so celsius is made
    float64 once, outside the loop (tensorweaver and NumPy promote float32 @ float64 every epoch)."""

    def __init__(self, torch, device: str = "cpu") -> None:
        self.torch, self.device = torch, device
        self.x = torch.tensor(CELSIUS, dtype=torch.float64, device=device)
        self.y = torch.tensor(FAHRENHEIT, device=device)
        self.w0, self.b0 = textbook_init()
        self.reset()

    def reset(self) -> None:
        t = self.torch
        self.w = t.tensor(self.w0, device=self.device, requires_grad=True)
        self.b = t.tensor(self.b0, device=self.device, requires_grad=True)

    def step(self) -> None:
        x, y, w, b, lr = self.x, self.y, self.w, self.b, LR_TEXTBOOK
        pred = x @ w.T + b
        loss = ((pred - y) ** 2).mean()
        loss.backward()
        w.data -= lr * w.grad
        b.data -= lr * b.grad
        w.grad = None
        b.grad = None

    def result(self):
        return self.w.detach().cpu().numpy(), self.b.detach().cpu().numpy()


class OpOverheadTorch:
    """``c = a * b + a; c.backward()`` on one-element float32 tensors, grads reset every time."""

    def __init__(self, torch, device: str = "cpu") -> None:
        self.a = torch.tensor([1.5], device=device, requires_grad=True)
        self.b = torch.tensor([2.0], device=device, requires_grad=True)

    def step(self) -> None:
        a, b = self.a, self.b
        a.grad = None
        b.grad = None
        c = a * b + a
        c.backward()

    def result(self):
        return self.a.grad.cpu().numpy(), self.b.grad.cpu().numpy()


class MLPTorch:
    """The MLP in PyTorch: F.relu, F.cross_entropy, SGD under torch.no_grad()."""

    def __init__(self, torch, sizes, batch: int, device: str = "cpu") -> None:
        self.torch, self.device = torch, device
        self.init = mlp_init(sizes, batch)
        layers, x, labels = self.init
        self.x = torch.tensor(x, device=device)
        self.labels = torch.tensor(labels, device=device)
        self.reset()

    def reset(self) -> None:
        t = self.torch
        self.params = []
        for W, b in self.init[0]:
            self.params += [t.tensor(W, device=self.device, requires_grad=True)]
            self.params += [t.tensor(b, device=self.device, requires_grad=True)]

    def step(self):
        F = self.torch.nn.functional
        p = self.params
        h = self.x
        n = len(p) // 2
        for i in range(n):
            h = h @ p[2 * i].T + p[2 * i + 1]
            if i < n - 1:
                h = F.relu(h)
        loss = F.cross_entropy(h, self.labels)
        loss.backward()
        with self.torch.no_grad():
            for q in p:
                q -= LR_MLP * q.grad
                q.grad = None
        return loss

    def result(self):
        return [q.detach().cpu().numpy() for q in self.params]
