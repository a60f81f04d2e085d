"""PyTorch definitions of the networks the parity tests export and compare against."""
import torch.nn as nn
import torch.nn.functional as F


class PaperAlexNet(nn.Module):
    """Krizhevsky et al. 2012 (LRN, grouped convs) with configurable widths, as Sinter builds it.

    softmax=True appends the softmax of Sinter's built-in; lrn_k is LRN's bias (the paper: 2).
    """

    def __init__(s, cin=3, widths=(96, 256, 384, 384, 256), hidden=4096, classes=1000, spatial=6,
                 lrn_k=2.0, softmax=True):
        super().__init__()
        c1, c2, c3, c4, c5 = widths
        s.softmax = softmax
        s.f = nn.Sequential(
            nn.Conv2d(cin, c1, 11, 4), nn.ReLU(), nn.LocalResponseNorm(5, 1e-4, 0.75, lrn_k), nn.MaxPool2d(3, 2),
            nn.Conv2d(c1, c2, 5, 1, 2, groups=2), nn.ReLU(), nn.LocalResponseNorm(5, 1e-4, 0.75, lrn_k),
            nn.MaxPool2d(3, 2),
            nn.Conv2d(c2, c3, 3, 1, 1), nn.ReLU(),
            nn.Conv2d(c3, c4, 3, 1, 1, groups=2), nn.ReLU(),
            nn.Conv2d(c4, c5, 3, 1, 1, groups=2), nn.ReLU(), nn.MaxPool2d(3, 2))
        s.c = nn.Sequential(nn.Flatten(), nn.Linear(c5 * spatial * spatial, hidden), nn.ReLU(), nn.Dropout(0.5),
                            nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(0.5), nn.Linear(hidden, classes))

    def forward(s, x):
        y = s.c(s.f(x))
        return F.softmax(y, 1) if s.softmax else y


def narrow_paper(cin=3, classes=10, spatial=1, **kw):
    """Sinter's alexnet-narrow: the paper network at 1/16 width (67x67 input gives spatial 1)."""
    return PaperAlexNet(cin, (6, 16, 24, 24, 16), 256, classes, spatial, **kw)
