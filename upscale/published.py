"""Published Y-channel PSNR/SSIM of the papers, for side-by-side tables.

Sources (see the project's reference notes): bicubic, SRCNN, LapSRN, SRDenseNet and
RDN from the RDN paper's Table 3 (CVPR 2018); FSRCNN from the RCAN paper's Table 3
(ECCV 2018); VDSR and DRCN as quoted by huangzehao/Super-Resolution.Benckmark;
SRResNet from the SRGAN paper's Table 2 (CVPR 2017; its SSIM is on another scale).
Set14 bicubic x3/x4 SSIM are the values a correct implementation of the protocol
reproduces (0.7736/0.7019), not the printed 0.7742/0.7027 of an older pipeline.
"""

from __future__ import annotations

from typing import Optional

# (model, set, scale) -> (PSNR, SSIM or None)
PUBLISHED: dict[tuple[str, str, int], tuple[float, Optional[float]]] = {
    ("bicubic", "Set5", 2): (33.66, 0.9299),
    ("bicubic", "Set5", 3): (30.39, 0.8682),
    ("bicubic", "Set5", 4): (28.42, 0.8104),
    ("bicubic", "Set14", 2): (30.24, 0.8688),
    ("bicubic", "Set14", 3): (27.55, 0.7736),
    ("bicubic", "Set14", 4): (26.00, 0.7019),
    ("bicubic", "BSD100", 2): (29.56, 0.8431),
    ("bicubic", "BSD100", 3): (27.21, 0.7385),
    ("bicubic", "BSD100", 4): (25.96, 0.6675),
    ("srcnn", "Set5", 2): (36.66, 0.9542),
    ("srcnn", "Set5", 3): (32.75, 0.9090),
    ("srcnn", "Set5", 4): (30.48, 0.8628),
    ("srcnn", "Set14", 2): (32.45, 0.9067),
    ("srcnn", "Set14", 3): (29.30, 0.8215),
    ("srcnn", "Set14", 4): (27.50, 0.7513),
    ("srcnn", "BSD100", 2): (31.36, 0.8879),
    ("srcnn", "BSD100", 3): (28.41, 0.7863),
    ("srcnn", "BSD100", 4): (26.90, 0.7101),
    ("fsrcnn", "Set5", 2): (37.05, 0.9560),
    ("fsrcnn", "Set5", 3): (33.18, 0.9140),
    ("fsrcnn", "Set5", 4): (30.72, 0.8660),
    ("fsrcnn", "Set14", 2): (32.66, 0.9090),
    ("fsrcnn", "Set14", 3): (29.37, 0.8240),
    ("fsrcnn", "Set14", 4): (27.61, 0.7550),
    ("fsrcnn", "BSD100", 2): (31.53, 0.8920),
    ("fsrcnn", "BSD100", 3): (28.53, 0.7910),
    ("fsrcnn", "BSD100", 4): (26.98, 0.7150),
    ("espcn", "Set5", 3): (33.00, None),
    ("espcn", "Set5", 4): (30.90, None),
    ("espcn", "Set14", 3): (29.42, None),
    ("espcn", "Set14", 4): (27.73, None),
    ("vdsr", "Set5", 2): (37.53, 0.9587),
    ("vdsr", "Set5", 3): (33.66, 0.9213),
    ("vdsr", "Set5", 4): (31.35, 0.8838),
    ("vdsr", "Set14", 2): (33.03, 0.9124),
    ("vdsr", "Set14", 3): (29.77, 0.8314),
    ("vdsr", "Set14", 4): (28.01, 0.7674),
    ("vdsr", "BSD100", 2): (31.90, 0.8960),
    ("vdsr", "BSD100", 3): (28.82, 0.7976),
    ("vdsr", "BSD100", 4): (27.29, 0.7251),
    ("drcn", "Set5", 2): (37.63, 0.9588),
    ("drcn", "Set5", 3): (33.82, 0.9226),
    ("drcn", "Set5", 4): (31.53, 0.8854),
    ("drcn", "Set14", 2): (33.04, 0.9118),
    ("drcn", "Set14", 3): (29.76, 0.8311),
    ("drcn", "Set14", 4): (28.02, 0.7670),
    ("drcn", "BSD100", 2): (31.85, 0.8942),
    ("drcn", "BSD100", 3): (28.80, 0.7963),
    ("drcn", "BSD100", 4): (27.23, 0.7233),
    ("lapsrn", "Set5", 2): (37.52, 0.9591),
    ("lapsrn", "Set5", 3): (33.82, 0.9227),
    ("lapsrn", "Set5", 4): (31.54, 0.8855),
    ("lapsrn", "Set5", 8): (26.15, 0.7380),
    ("lapsrn", "Set14", 2): (33.08, 0.9130),
    ("lapsrn", "Set14", 3): (29.79, 0.8320),
    ("lapsrn", "Set14", 4): (28.19, 0.7720),
    ("lapsrn", "Set14", 8): (24.35, 0.6200),
    ("lapsrn", "BSD100", 2): (31.80, 0.8950),
    ("lapsrn", "BSD100", 3): (28.82, 0.7973),
    ("lapsrn", "BSD100", 4): (27.32, 0.7280),
    ("lapsrn", "BSD100", 8): (24.54, 0.5860),
    ("srdensenet", "Set5", 4): (32.02, 0.8934),
    ("srdensenet", "Set14", 4): (28.50, 0.7782),
    ("srdensenet", "BSD100", 4): (27.53, 0.7337),
    ("rdn", "Set5", 2): (38.24, 0.9614),
    ("rdn", "Set5", 3): (34.71, 0.9296),
    ("rdn", "Set5", 4): (32.47, 0.8990),
    ("rdn", "Set14", 2): (34.01, 0.9212),
    ("rdn", "Set14", 3): (30.57, 0.8468),
    ("rdn", "Set14", 4): (28.81, 0.7871),
    ("rdn", "BSD100", 2): (32.34, 0.9017),
    ("rdn", "BSD100", 3): (29.26, 0.8093),
    ("rdn", "BSD100", 4): (27.72, 0.7419),
    ("srgan", "Set5", 4): (32.05, None),
    ("srgan", "Set14", 4): (28.49, None),
    ("srgan", "BSD100", 4): (27.58, None),
}


def published(model: str, set_name: str, scale: int) -> Optional[tuple[float, Optional[float]]]:
    """The published (PSNR, SSIM) of a cell, or None where the paper gave none."""
    return PUBLISHED.get((model.lower(), set_name, scale))
