"""Build the font subsets vendored in functions/document_export/fonts/ from Debian's fonts-dejavu-core and
fonts-droid-fallback (run from that folder with .venv/bin/python; fontTools comes with fpdf2)."""

from fontTools import subset


def chars_of(encoding, lo, hi):
    out = set()
    for cp in range(lo, hi + 1):
        try:
            chr(cp).encode(encoding)
            out.add(cp)
        except UnicodeEncodeError:
            pass
    return out


latin = (
    set(range(0x20, 0x7F))
    | set(range(0xA0, 0x250))
    | set(range(0x370, 0x400))
    | set(range(0x400, 0x530))
    | set(range(0x2000, 0x2070))
    | set(range(0x20A0, 0x20C1))
    | set(range(0x2100, 0x2150))
    | {0x2212, 0xFFFD}
)
cjk = set()
for enc in ("gb2312", "shift_jis", "euc_kr"):
    cjk |= (
        chars_of(enc, 0x3000, 0x30FF)
        | chars_of(enc, 0x4E00, 0x9FFF)
        | chars_of(enc, 0xAC00, 0xD7A3)
        | chars_of(enc, 0xFF00, 0xFFEF)
        | chars_of(enc, 0x3130, 0x318F)
    )
print("cjk chars", len(cjk))
for source, target, wanted in (
    ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "DejaVuSans-subset.ttf", latin),
    ("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf", "DejaVuSans-Bold-subset.ttf", latin),
    ("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf", "DroidSansFallback-subset.ttf", cjk),
):
    options = subset.Options()
    options.layout_features = ["*"]
    options.name_IDs = ["*"]
    options.notdef_outline = True
    options.hinting = False
    font = subset.load_font(source, options)
    s = subset.Subsetter(options)
    s.populate(unicodes=sorted(wanted))
    s.subset(font)
    subset.save_font(font, target, options)
