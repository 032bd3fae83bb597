"""Reading and writing images: the one place files are decoded and encoded.

``read_image`` serves eval and training (uint8, gray or RGB). ``load_for_upscale`` and
``save_upscaled`` serve the upscale command, which must not lose what the file holds:
16 bits, alpha, orientation, ICC profile and EXIF. Pillow decodes almost everything;
OpenCV decodes and encodes 16-bit colour, which Pillow silently cuts to 8 bits.
What a file holds that the output cannot (float samples, a profile for another colour
space, a broken EXIF block, a decoder's warning) is turned into per-file notes.
"""

from __future__ import annotations

import errno
import io
import os
import stat
import struct
import warnings
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator, Optional

import cv2
import numpy as np
from PIL import Image, ImageCms, UnidentifiedImageError

from ..errors import ImageReadError, UpscaleError
from ..files import write_atomic

DEFAULT_MAX_PIXELS = 100_000_000
"""The decompression-bomb guard: a tiny file can declare a 50000 x 50000 image."""

ORIENTATION = 0x0112
LAYOUT_TAGS = {254, 255, 256, 257, 258, 259, 262, 266, 273, 277, 278, 279, 284, 317, 320, 322, 323, 324, 325, 330,
               338, 339, 347, 34675}
"""TIFF tags that describe how the source stored its pixels (size, strips, depth, ICC), not the
photo. For a TIFF, Pillow's EXIF is the file's own first directory, and these would lie about the output."""
DEEP_FORMATS = ("PNG", "TIFF")
NO_ALPHA_FORMATS = ("JPEG", "BMP")  # Pillow writes a 32-bit BMP, but reads it back (like most viewers) as RGB
LOSSY_FORMATS = ("JPEG", "WEBP")
DEFAULT_QUALITY = 95  # Pillow's 75 throws away much of what the network added
MAX_WARNING_NOTES = 3
SPECIAL_FILES = {stat.S_IFIFO: "a named pipe", stat.S_IFCHR: "a character device",
                 stat.S_IFBLK: "a block device", stat.S_IFSOCK: "a socket"}


def read_image(path: Path) -> np.ndarray:
    """Decode ``path`` to uint8: ``HxW`` for grayscale, ``HxWx3`` for everything else."""
    try:
        with Image.open(path) as im:
            im.load()
            gray = im.mode in ("L", "1", "I;16", "I")
            return np.asarray(im.convert("L" if gray else "RGB"))
    except FileNotFoundError:
        raise ImageReadError(f"{path}: no such file") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise ImageReadError(f"{path}: cannot decode image ({exc})") from None


@dataclass(frozen=True)
class LoadedImage:
    """Pixels upright and ready for the engine, with what the output should carry along.

    ``pixels`` is uint8 or uint16: ``HxW`` gray, ``HxWx2`` gray+alpha, ``HxWx3`` RGB or
    ``HxWx4`` RGBA. ``exif`` already says orientation 1, since the pixels are upright.
    ``notes`` say, one line each, what was changed or left behind on the way.
    """

    pixels: np.ndarray
    format: str
    icc_profile: Optional[bytes] = None
    exif: Optional[bytes] = None
    notes: tuple[str, ...] = ()


def load_for_upscale(path: Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> LoadedImage:
    """Decode a still image without losing depth, alpha or metadata; ``max_pixels`` 0 = no limit.

    Raises ImageReadError, with a message that does not repeat the path, for files that
    are missing, special (a pipe, a device, a symlink loop), not images, truncated,
    animated, larger than ``max_pixels`` or with samples no output can hold.
    """
    notes: list[str] = []
    with _warnings_as_notes(notes), _open(path) as im:
        _check_size(im, max_pixels)
        _check_still(im)
        rawmode = _rawmode(im)  # before getexif, which may decode the pixels and forget how they were stored
        exif, orientation = _upright_exif(im, notes)
        pixels, icc = _decode(path, im, rawmode, notes)
        fmt = im.format or ""
    icc = _fitting_icc(icc, pixels, notes)
    return LoadedImage(_orient(pixels, orientation), fmt, icc, exif, tuple(notes))


@contextmanager
def _warnings_as_notes(notes: list[str]) -> Iterator[None]:
    """Collect the image libraries' warnings into ``notes``, one line each, instead of stderr.

    A warning printed by Python takes two lines and names the library's source line;
    the user needs to know which file it was about, which only the caller's notes say.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    texts: list[str] = []
    for w in caught:
        if issubclass(w.category, DeprecationWarning):  # meant for developers: pass it on unchanged
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        elif " ".join(str(w.message).split()) not in texts:
            texts.append(" ".join(str(w.message).split()))
    # Pillow warns once per broken tag; a hostile file must not print a thousand lines.
    notes += [f"warning from the image library: {text}" for text in texts[:MAX_WARNING_NOTES]]
    if len(texts) > MAX_WARNING_NOTES:
        notes.append(f"{len(texts) - MAX_WARNING_NOTES} more warning(s) from the image library")


def not_a_file_reason(path: Path) -> Optional[str]:
    """Why ``path`` (links followed) is neither a regular file nor a folder; None when it is one.

    Nothing is opened: a named pipe would block the batch and a device may never end.
    The phrase reads after "NAME is" (a folder note) and alone (a per-file error).
    """
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        return _stat_failure(path, exc)
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    kind = SPECIAL_FILES.get(stat.S_IFMT(mode), "a special file")
    if os.path.islink(path):
        return f"a link to {kind} ({os.path.realpath(path)}), not an image file"
    return f"{kind}, not an image file"


def _stat_failure(path: Path, exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "a symlink loop"
    if exc.errno == errno.ENOENT and os.path.islink(path):
        return f"a dangling symlink (to {os.readlink(path)}, which does not exist)"
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return "no such file or folder"
    return f"unreadable ({exc.strerror or exc})"


@contextmanager
def _open(path: Path) -> Iterator[Image.Image]:
    # Pillow's own bomb check is a process-wide setting that warns or fails at fixed
    # sizes, in open and in some decoders; it is off while we decode, _check_size decides.
    limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
    try:
        with _identify(path) as im:
            yield im
    finally:
        Image.MAX_IMAGE_PIXELS = limit


def _identify(path: Path) -> Image.Image:
    problem = not_a_file_reason(path)
    if problem:
        raise ImageReadError(problem)
    try:
        return Image.open(path)
    except FileNotFoundError:
        raise ImageReadError("no such file") from None
    except IsADirectoryError:
        raise ImageReadError("a folder, not an image file") from None
    except UnidentifiedImageError:
        raise ImageReadError("not an image file (or a format Pillow cannot read)") from None
    except Exception as exc:  # decoders of untrusted files raise assorted errors
        raise ImageReadError(f"cannot read the image header ({_one_line(exc)})") from None


def _check_size(im: Image.Image, max_pixels: int) -> None:
    width, height = im.size
    if max_pixels and width * height > max_pixels:
        raise ImageReadError(
            f"declares {width}x{height} = {width * height / 1e6:.1f} megapixels, over the limit of "
            f"{max_pixels / 1e6:.1f} (a decompression-bomb guard); pass --max-pixels {width * height} to allow it"
        )
    if width == 0 or height == 0:
        raise ImageReadError(f"declares an empty {width}x{height} image")


def _check_still(im: Image.Image) -> None:
    try:
        frames = getattr(im, "n_frames", 1)
    except Exception as exc:
        raise ImageReadError(f"cannot count frames ({_one_line(exc)})") from None
    if frames > 1:
        kind = "multi-page" if im.format == "TIFF" else "animated"
        raise ImageReadError(
            f"{kind} {im.format} with {frames} frames; only still images are upscaled (extract the frames first)"
        )


def _upright_exif(im: Image.Image, notes: list[str]) -> tuple[Optional[bytes], int]:
    """The EXIF to carry (orientation reset to 1) and the orientation to apply now."""
    try:
        exif = im.getexif()
        orientation = int(exif.get(ORIENTATION, 1))
        if ORIENTATION in exif:
            exif[ORIENTATION] = 1
        for tag in LAYOUT_TAGS.intersection(exif):
            del exif[tag]
        return (exif.tobytes() if len(exif) else None), orientation if 1 <= orientation <= 8 else 1
    except Exception as exc:  # a broken EXIF block must not cost the pixels: drop it, and say so
        notes.append(f"the EXIF block cannot be read ({_one_line(exc)}); the output has none")
        return None, 1


def _decode(path: Path, im: Image.Image, rawmode: str, notes: list[str]) -> tuple[np.ndarray, Optional[bytes]]:
    icc = im.info.get("icc_profile") or None
    try:
        if _is_deep_color(im, rawmode):
            return _decode_deep_color(path, im.size, rawmode), icc
        im.load()
        if im.mode == "CMYK":
            return _cmyk_to_srgb(im, icc)
        if im.mode in ("I", "F"):
            pixels, note = _wide_to_narrow(np.asarray(im), 32 if "32" in rawmode else 16)
            notes += [note] if note else []
            return pixels, icc
        return pil_to_array(im), icc
    except UpscaleError:
        raise
    except Exception as exc:  # truncated or corrupt data: one line, not a traceback
        raise ImageReadError(f"cannot decode image ({_one_line(exc)})") from None


def pil_to_array(image: Image.Image) -> np.ndarray:
    """Any PIL mode -> uint8/uint16 gray, gray+alpha, RGB or RGBA; transparency becomes alpha."""
    if image.mode.startswith("I;16"):
        return np.asarray(image).astype(np.uint16)  # native byte order, whatever the file had
    if image.mode in ("I", "F"):
        return _wide_to_narrow(np.asarray(image), 16)[0]
    gray = image.mode in ("1", "L", "LA", "La")
    alpha = image.has_transparency_data  # alpha modes, tRNS, palettes with transparent entries
    target = ("LA" if alpha else "L") if gray else ("RGBA" if alpha else "RGB")
    return np.asarray(image if image.mode == target else image.convert(target))


def _wide_to_narrow(arr: np.ndarray, bits: int) -> tuple[np.ndarray, Optional[str]]:
    """Integer (mode I) or float (mode F) samples -> uint8 or uint16, and a note when the depth changed.

    ``bits`` is the integer depth the file declares: mode I is also how older Pillows
    open 16-bit PNGs, which stay 16-bit without a note. Outputs hold 8 or 16 bits, so
    32-bit integers are kept only when every value fits, at the smallest depth that
    holds them all; floats are read as 0..1 or as 0..255, never guessed beyond that.
    """
    if arr.dtype.kind == "f":
        return _float_to_narrow(arr)
    lo, hi = int(arr.min()), int(arr.max())
    if lo < 0 or hi > 65535:
        raise ImageReadError(f"integer samples span {lo}..{hi}; only values within 0..65535 can be kept")
    if bits <= 16:
        return arr.astype(np.uint16), None
    if hi <= 255:
        return arr.astype(np.uint8), f"{bits}-bit integer samples all within 0..255: read and written as 8 bits"
    return arr.astype(np.uint16), f"{bits}-bit integer samples all within 0..65535: read and written as 16 bits"


def _float_to_narrow(arr: np.ndarray) -> tuple[np.ndarray, str]:
    # No output format here holds floats. 0..1 keeps its precision in 16 bits; 0..255
    # holding whole numbers is 8-bit data saved as float, anything finer needs 16 bits.
    if not np.isfinite(arr).all():
        raise ImageReadError("float samples include NaN or infinity, which are not pixel values")
    lo, hi = float(arr.min()), float(arr.max())
    wide = arr.astype(np.float64)
    if lo >= 0 and hi <= 1:
        return np.round(wide * 65535).astype(np.uint16), "float samples in 0..1: read and written as 16 bits"
    if lo >= 0 and hi <= 255 and np.array_equal(wide, np.round(wide)):
        return wide.astype(np.uint8), "float samples are whole numbers in 0..255: read and written as 8 bits"
    if lo >= 0 and hi <= 255:
        return np.round(wide * 257).astype(np.uint16), "float samples in 0..255: read and written as 16 bits"
    raise ImageReadError(
        f"float samples span {lo:g}..{hi:g}; only 0..1 or 0..255 can be read (tone-map HDR or signed data first)"
    )


def _rawmode(im: Image.Image) -> str:
    """How the file stores its samples (``RGB;16B``, ``I;32S``, ``F;32F``), as far as Pillow says; else ""."""
    args = im.tile[0].args if im.tile else ""
    return str(args if isinstance(args, str) else (args or ("",))[0])


def _is_deep_color(im: Image.Image, rawmode: str) -> bool:
    """16-bit RGB(A) or gray+alpha, which Pillow would cut to 8 bits."""
    return im.mode in ("RGB", "RGBA", "LA") and ";16" in rawmode


def _decode_deep_color(path: Path, size: tuple[int, int], rawmode: str) -> np.ndarray:
    data = np.frombuffer(Path(path).read_bytes(), np.uint8)  # imdecode: any path, any encoding
    bgr = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if bgr is None or bgr.dtype != np.uint16 or bgr.shape[:2] != size[::-1] or bgr.ndim != 3:
        raise ImageReadError("cannot decode the 16-bit image data")
    if rawmode.startswith("LA"):  # libpng hands gray+alpha over as BGRA
        return np.dstack([bgr[..., 0], bgr[..., 3]])
    return cv2.cvtColor(bgr, cv2.COLOR_BGRA2RGBA if bgr.shape[2] == 4 else cv2.COLOR_BGR2RGB)


def _cmyk_to_srgb(im: Image.Image, icc: Optional[bytes]) -> tuple[np.ndarray, Optional[bytes]]:
    """Through the file's CMYK profile when it has a usable one, else Pillow's plain formula.

    The CMYK profile must not travel with RGB pixels; an sRGB profile says what they are.
    """
    srgb = ImageCms.createProfile("sRGB")
    if icc:
        try:
            cmyk = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            rgb = ImageCms.profileToProfile(im, cmyk, srgb, outputMode="RGB")
            return np.asarray(rgb), ImageCms.ImageCmsProfile(srgb).tobytes()
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # a broken or non-CMYK profile: fall back to the formula below
    return np.asarray(im.convert("RGB")), None


def _fitting_icc(icc: Optional[bytes], pixels: np.ndarray, notes: list[str]) -> Optional[bytes]:
    """``icc`` when it describes the pixels' colour space (RGB or gray), else None and a note.

    A Lab, CMYK or RGB profile beside pixels of another space would make viewers
    render the output in the wrong colours; untagged RGB is read as sRGB.
    """
    if not icc:
        return None
    space = icc[16:20].decode("latin-1").strip() if len(icc) >= 128 else ""  # the header's data colour space
    wanted = "GRAY" if pixels.ndim == 2 or pixels.shape[2] == 2 else "RGB"
    if space == wanted:
        return icc
    if space.isalpha():
        notes.append(f"the {space} ICC profile does not describe the {wanted} pixels; the output has none")
    else:
        notes.append("the ICC profile is malformed; the output has none")
    return None


def _orient(arr: np.ndarray, orientation: int) -> np.ndarray:
    """Apply EXIF orientation 1..8 (how the camera was held) so the pixels are upright."""
    transposed = arr.swapaxes(0, 1)
    upright = {
        1: arr,
        2: arr[:, ::-1],
        3: arr[::-1, ::-1],
        4: arr[::-1],
        5: transposed,
        6: transposed[:, ::-1],
        7: transposed[::-1, ::-1],
        8: transposed[::-1],
    }[orientation]
    return np.ascontiguousarray(upright)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


# --- writing -----------------------------------------------------------------------


def check_writable(pixels: np.ndarray, fmt: str) -> None:
    """Refuse what ``fmt`` would silently lose: 16 bits in 8-bit formats, alpha in JPEG or BMP."""
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    if pixels.dtype == np.uint16 and fmt not in DEEP_FORMATS:
        raise UpscaleError(f"16-bit image: {fmt} holds 8 bits per channel; use --format png or tiff")
    if pixels.dtype == np.uint16 and fmt == "TIFF" and channels == 2:
        raise UpscaleError("16-bit gray+alpha is written as PNG only; use --format png")
    if channels in (2, 4) and fmt in NO_ALPHA_FORMATS:
        raise UpscaleError(f"the image has an alpha channel, which {fmt} cannot hold; use --format png, webp or tiff")


def write_png(path: Path, image: Image.Image) -> None:
    """A generated picture (a comparison, a curve) written as PNG through the one atomic write."""
    write_atomic(Path(path), lambda f: image.save(f, format="PNG"))


def save_upscaled(
    pixels: np.ndarray,
    dest: BinaryIO,
    fmt: str,
    *,
    quality: Optional[int] = None,
    icc_profile: Optional[bytes] = None,
    exif: Optional[bytes] = None,
) -> list[str]:
    """Encode ``pixels`` as ``fmt`` (a Pillow format name) into ``dest``; returns notes on what was dropped."""
    notes: list[str] = []
    with _warnings_as_notes(notes):
        notes += _encode(pixels, dest, fmt, quality, icc_profile, exif)
    return notes


def _encode(
    pixels: np.ndarray, dest: BinaryIO, fmt: str, quality: Optional[int], icc_profile: Optional[bytes],
    exif: Optional[bytes],
) -> list[str]:
    check_writable(pixels, fmt)
    if pixels.dtype == np.uint16 and fmt == "PNG":
        dest.write(encode_png16(pixels, icc_profile, exif))
        return []
    if pixels.dtype == np.uint16:
        dest.write(_encode_tiff16(pixels))
        return _dropped(fmt, icc_profile, exif)
    image = Image.fromarray(pixels)
    if fmt == "BMP":
        image.save(dest, format=fmt)
        return _dropped(fmt, icc_profile, exif)
    options: dict = {"icc_profile": icc_profile, "exif": exif or b""}
    if fmt in LOSSY_FORMATS:
        options["quality"] = quality or DEFAULT_QUALITY
    if fmt == "TIFF":
        options["compression"] = "tiff_adobe_deflate"  # lossless; uncompressed TIFFs are huge
    image.save(dest, format=fmt, **{k: v for k, v in options.items() if v is not None})
    return []


def _dropped(fmt: str, icc: Optional[bytes], exif: Optional[bytes]) -> list[str]:
    lost = [name for name, value in (("ICC profile", icc), ("EXIF", exif)) if value]
    kind = "16-bit TIFF" if fmt == "TIFF" else fmt
    return [f"{kind} output does not carry the {' and '.join(lost)}"] if lost else []


def _encode_tiff16(pixels: np.ndarray) -> bytes:
    planes = pixels if pixels.ndim == 2 else cv2.cvtColor(
        pixels, cv2.COLOR_RGBA2BGRA if pixels.shape[2] == 4 else cv2.COLOR_RGB2BGR
    )
    ok, buf = cv2.imencode(".tiff", planes)
    if not ok:
        raise UpscaleError("OpenCV could not encode the 16-bit TIFF")
    return buf.tobytes()


def encode_png16(pixels: np.ndarray, icc: Optional[bytes] = None, exif: Optional[bytes] = None) -> bytes:
    """A 16-bit PNG of any channel count, with iCCP and eXIf chunks.

    Written here because Pillow has no 16-bit colour modes and OpenCV neither writes
    gray+alpha nor carries metadata. Every row uses the Up filter: one vectorised
    subtraction that compresses photographs far better than no filter.
    """
    height, width = pixels.shape[:2]
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    rows = pixels.astype(">u2").reshape(height, width * channels).view(np.uint8)
    up = np.diff(rows, axis=0, prepend=np.zeros((1, rows.shape[1]), np.uint8))
    raw = np.hstack([np.full((height, 1), 2, np.uint8), up]).tobytes()
    color_type = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    chunks = [(b"IHDR", struct.pack(">IIBBBBB", width, height, 16, color_type, 0, 0, 0))]
    if icc:
        chunks.append((b"iCCP", b"ICC profile\0\0" + zlib.compress(icc)))
    if exif:
        chunks.append((b"eXIf", exif[6:] if exif.startswith(b"Exif\0\0") else exif))
    chunks += [(b"IDAT", zlib.compress(raw, 6)), (b"IEND", b"")]
    body = b"".join(struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d)) for t, d in chunks)
    return b"\x89PNG\r\n\x1a\n" + body
