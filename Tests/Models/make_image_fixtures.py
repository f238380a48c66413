#!/usr/bin/env python3
"""Writes the image-pipeline fixtures for ImageTests.swift from the committed sample photo
(Models/samples/grace_hopper.jpg, 512x600, baseline 4:2:0):

  gray.jpg, cmyk.jpg, ycck.jpg        grayscale, Adobe-inverted CMYK (Pillow) and YCCK (TurboJPEG
                                      through ctypes; skipped when libturbojpeg is missing) JPEGs
  progressive.jpg, s444.jpg, s422.jpg progressive and 4:4:4 / 4:2:2 chroma subsampling
  orient_<2..8>.jpg                   EXIF orientation tag in a little-endian TIFF header (Pillow);
  orient_6_be.jpg                     ... and in a big-endian one (APP1 written by hand)
  tiny_1x1.jpg, odd_37x23.jpg         awkward sizes
  png_rgb.png, png_rgba.png,          8-bit PNGs (alpha is dropped, as Pillow's convert("RGB")
  png_gray.png, png_palette.png       does; the palette has 64 colours)
  <name>_rgb.npy                      Pillow's decoded RGB (uint8 [H,W,3]; exif_transpose applied)
  photo_rgb.npy                       the sample photo decoded by Pillow
  photo_resize_<W>x<H>.npy            cv2.resize(photo, (W, H), interpolation=cv2.INTER_LINEAR)
  odd_resize_<W>x<H>.npy              the same for odd_37x23.jpg's decoded pixels
  photo_tensor_bgr_imagenet.npy       float32 [1,3,224,224]: cv2.imread (BGR), INTER_LINEAR resize,
                                      ((x / 255) - mean) / std with ImageNet mean/std in BGR order
  truncated.jpg, truncated_header.jpg the photo cut at 60 % and at 100 bytes
  corrupt.jpg                         the photo with its first Huffman table overwritten
  not_an_image.jpg, empty.jpg         text bytes and zero bytes with a .jpg name

Usage: make_image_fixtures.py [--sample Models/samples/grace_hopper.jpg]
                              [--out Tests/data/generated/images]
"""
import argparse
import ctypes
import ctypes.util
import io
import os
import struct

import cv2
import numpy as np
from PIL import Image, ImageOps


def save_expected(out, name, img):
    """Pillow's view of a file: EXIF orientation applied, converted to RGB."""
    rgb = np.asarray(ImageOps.exif_transpose(img).convert("RGB"), dtype=np.uint8)
    np.save(os.path.join(out, name + "_rgb.npy"), rgb)
    return rgb


def write_jpeg(out, name, img, **kw):
    path = os.path.join(out, name + ".jpg")
    img.save(path, "JPEG", quality=kw.pop("quality", 90), **kw)
    with Image.open(path) as check:
        return save_expected(out, name, check)


def exif_be(orientation):
    """An APP1 Exif segment with a big-endian ("MM") TIFF header and one IFD0 entry."""
    tiff = b"MM\x00\x2a" + struct.pack(">I", 8) + struct.pack(">H", 1)
    tiff += struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack(">I", 0)
    body = b"Exif\x00\x00" + tiff
    return b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body


def turbojpeg_ycck(out, cmyk):
    """Compresses CMYK pixels with TurboJPEG (tjCompress2 with TJPF_CMYK writes a YCCK JPEG)."""
    lib = ctypes.util.find_library("turbojpeg")
    if lib is None:
        print("make_image_fixtures: libturbojpeg not found, ycck.jpg skipped")
        return
    tj = ctypes.CDLL(lib)
    tj.tjInitCompress.restype = ctypes.c_void_p
    tj.tjCompress2.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                               ctypes.c_int, ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_ulong),
                               ctypes.c_int, ctypes.c_int, ctypes.c_int]
    tj.tjFree.argtypes = [ctypes.c_void_p]
    tj.tjDestroy.argtypes = [ctypes.c_void_p]
    h, w, _ = cmyk.shape
    handle = tj.tjInitCompress()
    buf, size = ctypes.c_void_p(), ctypes.c_ulong(0)
    # TJPF_CMYK = 11, TJSAMP_444 = 0, quality 90, flags 0.
    if tj.tjCompress2(handle, np.ascontiguousarray(cmyk).tobytes(), w, 0, h, 11, ctypes.byref(buf),
                      ctypes.byref(size), 0, 90, 0) != 0:
        raise RuntimeError("tjCompress2 failed")
    data = ctypes.string_at(buf, size.value)
    tj.tjFree(buf)
    tj.tjDestroy(handle)
    path = os.path.join(out, "ycck.jpg")
    with open(path, "wb") as f:
        f.write(data)
    with Image.open(path) as check:
        assert check.mode == "CMYK" and check.info.get("adobe_transform") == 2, (check.mode, check.info)
        save_expected(out, "ycck", check)


def main():
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sample", default=os.path.join(root, "Models", "samples", "grace_hopper.jpg"))
    ap.add_argument("--out", default=os.path.join(root, "Tests", "data", "generated", "images"))
    args = ap.parse_args()
    out = args.out
    os.makedirs(out, exist_ok=True)
    raw = open(args.sample, "rb").read()
    photo = Image.open(args.sample)
    photo.load()
    rgb = save_expected(out, "photo", photo)

    # Resizes: a downscale (the NetVLAD input size), an upscale, a strong downscale to an odd size
    # and an exact 2x downscale (which OpenCV routes to INTER_AREA; it equals bilinear there).
    for w, h in [(300, 200), (411, 257), (37, 23), (256, 300)]:
        np.save(os.path.join(out, f"photo_resize_{w}x{h}.npy"), cv2.resize(rgb, (w, h), interpolation=cv2.INTER_LINEAR))

    small = photo.convert("RGB")
    write_jpeg(out, "gray", small.convert("L"))
    # CMYK with a real black channel (K = 255 - max(R,G,B)), so the K multiplication matters.
    f = rgb.astype(np.float64)
    k = 255 - f.max(axis=2)
    denom = np.maximum(255 - k, 1)[..., None]
    cmy = (255 - f - k[..., None]) / denom * 255
    cmyk = np.clip(np.round(np.concatenate([cmy, k[..., None]], axis=2)), 0, 255).astype(np.uint8)
    write_jpeg(out, "cmyk", Image.fromarray(cmyk, "CMYK"))
    with open(os.path.join(out, "cmyk.jpg"), "rb") as fh:
        assert b"Adobe" in fh.read(64), "Pillow wrote no Adobe APP14 marker"
    # TurboJPEG wants CMYK as stored in Adobe files (inverted: 255 = no ink).
    turbojpeg_ycck(out, 255 - cmyk)
    write_jpeg(out, "progressive", small, progressive=True)
    write_jpeg(out, "s444", small, subsampling=0)
    write_jpeg(out, "s422", small, subsampling=1)
    for o in range(2, 9):
        exif = Image.Exif()
        exif[0x0112] = o
        write_jpeg(out, f"orient_{o}", small, exif=exif.tobytes())
    # Big-endian EXIF: insert a hand-made APP1 right after SOI of a plain JPEG.
    buf = io.BytesIO()
    small.save(buf, "JPEG", quality=90)
    be = buf.getvalue()
    be = be[:2] + exif_be(6) + be[2:]
    with open(os.path.join(out, "orient_6_be.jpg"), "wb") as fh:
        fh.write(be)
    with Image.open(os.path.join(out, "orient_6_be.jpg")) as check:
        assert check.getexif().get(0x0112) == 6
        save_expected(out, "orient_6_be", check)

    write_jpeg(out, "tiny_1x1", small.resize((1, 1), Image.BILINEAR))
    odd = write_jpeg(out, "odd_37x23", small.resize((37, 23), Image.BILINEAR))
    for w, h in [(300, 200), (5, 3)]:
        np.save(os.path.join(out, f"odd_resize_{w}x{h}.npy"), cv2.resize(odd, (w, h), interpolation=cv2.INTER_LINEAR))

    small.save(os.path.join(out, "png_rgb.png"))
    save_expected(out, "png_rgb", Image.open(os.path.join(out, "png_rgb.png")))
    rgba = small.copy()
    rgba.putalpha(Image.linear_gradient("L").resize(small.size))
    rgba.save(os.path.join(out, "png_rgba.png"))
    save_expected(out, "png_rgba", Image.open(os.path.join(out, "png_rgba.png")))
    small.convert("L").save(os.path.join(out, "png_gray.png"))
    save_expected(out, "png_gray", Image.open(os.path.join(out, "png_gray.png")))
    small.convert("P", palette=Image.Palette.ADAPTIVE, colors=64).save(os.path.join(out, "png_palette.png"))
    save_expected(out, "png_palette", Image.open(os.path.join(out, "png_palette.png")))

    # A full preprocessing path as another library would run it: OpenCV decode (BGR), resize,
    # scale to 0..1, ImageNet mean/std (given in RGB, applied in BGR order), NCHW float32.
    bgr = cv2.imread(args.sample, cv2.IMREAD_COLOR)
    x = cv2.resize(bgr, (224, 224), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    mean = np.array([0.406, 0.456, 0.485], np.float32)
    std = np.array([0.225, 0.224, 0.229], np.float32)
    x = (x * np.float32(1 / 255) - mean) / std
    np.save(os.path.join(out, "photo_tensor_bgr_imagenet.npy"), np.ascontiguousarray(x.transpose(2, 0, 1)[None]))

    # Bad files.
    def write(name, data):
        with open(os.path.join(out, name), "wb") as fh:
            fh.write(data)
    write("truncated.jpg", raw[: len(raw) * 6 // 10])
    write("truncated_header.jpg", raw[:100])
    dht = raw.index(b"\xff\xc4")
    # Huffman counts summing to more than 256 codes: libjpeg rejects the table ("Bogus Huffman table").
    write("corrupt.jpg", raw[: dht + 5] + b"\xff" * 16 + raw[dht + 21:])
    write("not_an_image.jpg", b"This is not a JPEG file, just text with a .jpg name.\n" * 4)
    write("empty.jpg", b"")
    print(f"make_image_fixtures: wrote {len(os.listdir(out))} files to {out}")


if __name__ == "__main__":
    main()
