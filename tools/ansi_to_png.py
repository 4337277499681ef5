#!/usr/bin/env python3
"""Render a terminal screen captured with ANSI colours to a PNG.

Made for the README's picture of the live monitor: run the real terminal UI in tmux at a fixed
size and capture the screen with its colours,

    tmux new-session -d -s mon -x 110 -y 34 'eggemo monitor --emulate in.wav --model export/'
    tmux capture-pane -t mon -e -p > screen.ans
    python tools/ansi_to_png.py screen.ans docs/img/monitor.png

Understands the SGR codes terminal UIs (rich, curses, tmux's capture) write: reset, bold, dim,
italic, underline, reverse, the 8 + 8 bright colours, 256-colour and 24-bit colours, default
foreground / background. Other escape sequences are dropped. Text is drawn with a monospace
TrueType font (DejaVu Sans Mono by default) on a dark background; braille (U+2800..U+28FF, which
DejaVu Sans Mono lacks) and the block elements (U+2580..U+259F) are drawn as shapes filling the
character cell, as terminals that draw them natively do, so braille plots and bar charts look
as they do on screen. Wide (east-Asian) characters take two cells. Needs only Pillow.
"""
from __future__ import annotations

import argparse
import re
import sys
import unicodedata
from dataclasses import dataclass, replace
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/TTF", "/usr/share/fonts/dejavu",
             "/Library/Fonts", "C:/Windows/Fonts")
FONT_REGULAR = "DejaVuSansMono.ttf"
FONT_BOLD = "DejaVuSansMono-Bold.ttf"

BACKGROUND = (30, 30, 30)
FOREGROUND = (212, 212, 212)
# the 16 ANSI colours (a dark theme close to common terminal defaults)
PALETTE16 = [
    (40, 40, 40), (224, 88, 80), (106, 200, 110), (220, 190, 90),
    (90, 150, 230), (200, 110, 210), (80, 190, 200), (200, 200, 200),
    (110, 110, 110), (250, 120, 110), (140, 230, 140), (245, 220, 120),
    (130, 180, 250), (230, 140, 240), (120, 220, 230), (245, 245, 245),
]
DIM = 0.55            # dim text: this share of the colour, the rest background

SGR = re.compile(r"\x1b\[([0-9;:]*)m")
OTHER_ESCAPE = re.compile(r"\x1b(\[[0-9;:?<=>]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[()][0-9A-Za-z]|[=>78DEHMc])")


@dataclass(frozen=True)
class Style:
    fg: tuple | None = None          # None: default foreground
    bg: tuple | None = None          # None: default background
    bold: bool = False
    dim: bool = False
    italic: bool = False
    underline: bool = False
    reverse: bool = False


def colour256(n: int) -> tuple:
    if n < 16:
        return PALETTE16[n]
    if n < 232:
        n -= 16
        steps = (0, 95, 135, 175, 215, 255)
        return steps[n // 36], steps[(n // 6) % 6], steps[n % 6]
    v = 8 + 10 * (n - 232)
    return v, v, v


# SGR codes that set or clear attributes: code -> the Style fields it sets
SGR_ATTRIBUTES = {1: {"bold": True}, 2: {"dim": True}, 3: {"italic": True}, 4: {"underline": True},
                  7: {"reverse": True}, 22: {"bold": False, "dim": False}, 23: {"italic": False},
                  24: {"underline": False}, 27: {"reverse": False}, 39: {"fg": None}, 49: {"bg": None}}


def apply_sgr(style: Style, params: str) -> Style:
    codes = [int(p) if p.isdigit() else 0 for p in params.replace(":", ";").split(";")] if params else [0]
    i = 0
    while i < len(codes):
        c = codes[i]
        if c == 0:
            style = Style()
        elif c in SGR_ATTRIBUTES:
            style = replace(style, **SGR_ATTRIBUTES[c])
        elif 30 <= c <= 37:
            style = replace(style, fg=PALETTE16[c - 30])
        elif 90 <= c <= 97:
            style = replace(style, fg=PALETTE16[c - 90 + 8])
        elif 40 <= c <= 47:
            style = replace(style, bg=PALETTE16[c - 40])
        elif 100 <= c <= 107:
            style = replace(style, bg=PALETTE16[c - 100 + 8])
        elif c in (38, 48) and i + 1 < len(codes):
            colour = None
            if codes[i + 1] == 5 and i + 2 < len(codes):
                colour = colour256(codes[i + 2] % 256)
                i += 2
            elif codes[i + 1] == 2 and i + 4 < len(codes):
                colour = tuple(min(255, v) for v in codes[i + 2:i + 5])
                i += 4
            if colour is not None:
                style = replace(style, fg=colour) if c == 38 else replace(style, bg=colour)
        i += 1
    return style


def parse(text: str) -> list[list[tuple[str, Style]]]:
    """Lines of (character, style) cells; a wide character is followed by an empty cell ''."""
    lines = []
    style = Style()
    for raw in text.replace("\r\n", "\n").split("\n"):
        cells: list[tuple[str, Style]] = []
        pos = 0
        for m in SGR.finditer(raw):
            cells += cells_of(OTHER_ESCAPE.sub("", raw[pos:m.start()]), style)
            style = apply_sgr(style, m.group(1))
            pos = m.end()
        cells += cells_of(OTHER_ESCAPE.sub("", raw[pos:]), style)
        lines.append(cells)
    while lines and not lines[-1]:
        lines.pop()
    return lines


def cells_of(text: str, style: Style) -> list[tuple[str, Style]]:
    out = []
    for ch in text:
        if ch == "\t":
            out += [(" ", style)] * (8 - len(out) % 8)
            continue
        if ch < " " or unicodedata.combining(ch):
            continue
        out.append((ch, style))
        if unicodedata.east_asian_width(ch) in ("W", "F"):
            out.append(("", style))
    return out


def colours(style: Style) -> tuple[tuple, tuple]:
    fg = style.fg or FOREGROUND
    bg = style.bg or BACKGROUND
    if style.reverse:
        fg, bg = bg, fg
    if style.dim:
        fg = tuple(round(DIM * f + (1 - DIM) * b) for f, b in zip(fg, bg))
    return fg, bg


# braille: bit of the dot at [row][column] of the 2 x 4 grid
BRAILLE_BITS = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))


def draw_braille(draw: ImageDraw.ImageDraw, ch: str, x: int, y: int, w: int, h: int, fg) -> None:
    bits = ord(ch) - 0x2800
    r = max(1.0, min(w / 4.0, h / 8.0) * 0.8)
    for row in range(4):
        for col in range(2):
            if bits & BRAILLE_BITS[row][col]:
                cx = x + (col + 0.5) * w / 2
                cy = y + (row + 0.5) * h / 4
                draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fg)


def draw_block(draw: ImageDraw.ImageDraw, ch: str, x: int, y: int, w: int, h: int, fg) -> bool:
    """Block elements as filled rectangles; False for the few (shades, quadrants) left to the font."""
    cp = ord(ch)
    if cp == 0x2588:                                     # full block
        box = (x, y, x + w, y + h)
    elif 0x2589 <= cp <= 0x258F:                         # left seven eighths .. one eighth
        box = (x, y, x + round(w * (0x2590 - cp) / 8), y + h)
    elif 0x2581 <= cp <= 0x2587:                         # lower one eighth .. seven eighths
        box = (x, y + h - round(h * (cp - 0x2580) / 8), x + w, y + h)
    elif cp == 0x2580:                                   # upper half
        box = (x, y, x + w, y + h // 2)
    elif cp == 0x2590:                                   # right half
        box = (x + w // 2, y, x + w, y + h)
    elif cp == 0x2594:                                   # upper one eighth
        box = (x, y, x + w, y + round(h / 8))
    elif cp == 0x2595:                                   # right one eighth
        box = (x + w - round(w / 8), y, x + w, y + h)
    else:
        return False
    if box[2] > box[0] and box[3] > box[1]:
        draw.rectangle((box[0], box[1], box[2] - 1, box[3] - 1), fill=fg)
    return True


def find_font(name: str) -> str:
    if Path(name).is_file():
        return name
    for d in FONT_DIRS:
        p = Path(d) / name
        if p.is_file():
            return str(p)
    sys.exit(f"ansi_to_png: font {name} not found (give a path with --font / --bold-font)")


def render(lines, font_path: str, bold_path: str, size: int, padding: int,
           cols: int | None = None, rows: int | None = None) -> Image.Image:
    regular = ImageFont.truetype(font_path, size)
    bold = ImageFont.truetype(bold_path, size)
    ascent, descent = regular.getmetrics()
    cw = round(regular.getlength("M"))
    ch_h = ascent + descent
    cols = cols or max((len(line) for line in lines), default=1)
    rows = rows or len(lines)
    img = Image.new("RGB", (2 * padding + cols * cw, 2 * padding + rows * ch_h), BACKGROUND)
    draw = ImageDraw.Draw(img)
    for r, line in enumerate(lines[:rows]):
        y = padding + r * ch_h
        for c, (ch, style) in enumerate(line[:cols]):
            if ch == "":
                continue
            wide = c + 1 < len(line) and line[c + 1][0] == ""
            x = padding + c * cw
            w = cw * (2 if wide else 1)
            fg, bg = colours(style)
            if bg != BACKGROUND:
                draw.rectangle((x, y, x + w - 1, y + ch_h - 1), fill=bg)
            if ch in (" ", "\u2800") and not style.underline:
                continue
            if 0x2800 <= ord(ch) <= 0x28FF:
                draw_braille(draw, ch, x, y, w, ch_h, fg)
            elif not (0x2580 <= ord(ch) <= 0x259F and draw_block(draw, ch, x, y, w, ch_h, fg)):
                draw.text((x, y), ch, font=bold if style.bold else regular, fill=fg)
            if style.underline:
                uy = y + ascent + max(1, descent // 3)
                draw.line((x, uy, x + w - 1, uy), fill=fg)
    return img


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("input", help="captured screen with ANSI escapes (e.g. tmux capture-pane -e -p); - for stdin")
    ap.add_argument("output", help="PNG to write")
    ap.add_argument("--font", default=FONT_REGULAR, help=f"monospace TTF (default {FONT_REGULAR})")
    ap.add_argument("--bold-font", default=FONT_BOLD, help=f"its bold face (default {FONT_BOLD})")
    ap.add_argument("--size", type=int, default=15, help="font size in pixels (default 15)")
    ap.add_argument("--padding", type=int, default=12, help="margin around the screen in pixels (default 12)")
    ap.add_argument("--cols", type=int, help="screen width in cells (default: the longest line)")
    ap.add_argument("--rows", type=int, help="screen height in lines (default: up to the last non-empty line)")
    ap.add_argument("--colors", type=int, default=0,
                    help="quantise the PNG to this many colours (smaller file; 0 = full colour, default)")
    args = ap.parse_args(argv)
    text = sys.stdin.read() if args.input == "-" else Path(args.input).read_text(encoding="utf-8")
    img = render(parse(text), find_font(args.font), find_font(args.bold_font), args.size, args.padding,
                 args.cols, args.rows)
    if args.colors:
        img = img.quantize(colors=args.colors, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    img.save(args.output, optimize=True)
    print(f"{args.output}: {img.width} x {img.height} px, {Path(args.output).stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
