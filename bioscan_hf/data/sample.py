"""A deterministic, synthetic BIOSCAN-5M release in the exact release layout.

Synthetic, not real: barcodes evolve along a generated taxonomy tree (AT-rich COI-like codons, fast
third codon positions, transitions over transversions, < 2% within species, several % between
congeneric species, no stop codon in frame) and images are drawn so that colour, shape and pattern
follow order, family and genus. It exists so that every part of the toolkit runs, and models learn,
without the 200 GB release.
"""

from __future__ import annotations

import colorsys
import hashlib
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from bioscan_hf.core.console import progress_bar
from bioscan_hf.core.errors import InputError
from bioscan_hf.core.outputs import claim_output_folder
from bioscan_hf.core.paths import user_path
from bioscan_hf.data.partition import assign_splits
from bioscan_hf.data.release import write_metadata_zip
from bioscan_hf.data.schema import (
    SPLIT_GROUPS,
    expected_chunk,
    image_member_path,
)

SCALES = {"small": 2_000, "medium": 20_000}
BARCODE_LENGTH = 658
NUCLEOTIDES = np.frombuffer(b"ACGT", dtype=np.uint8)
#: Base composition of COI third positions is strongly AT-biased.
AT_RICH = np.array([0.36, 0.12, 0.14, 0.38])
TRANSITION = np.array([2, 3, 0, 1])  # A<->G, C<->T

ORDERS = [  # (name, weight, hue) — Diptera dominate malaise-trap catches, as in BIOSCAN-5M.
    ("Diptera", 0.55, 0.08),
    ("Hymenoptera", 0.16, 0.15),
    ("Hemiptera", 0.10, 0.35),
    ("Coleoptera", 0.07, 0.55),
    ("Lepidoptera", 0.05, 0.75),
    ("Psocodea", 0.04, 0.9),
    ("Trichoptera", 0.03, 0.45),
]
COUNTRIES = [
    ("Canada", "Ontario", 44.5, -79.5),
    ("Costa Rica", "Puntarenas", 9.0, -83.0),
    ("South Africa", "Western Cape", -33.9, 18.9),
    ("Thailand", "Chiang Mai", 18.8, 98.9),
    ("Pakistan", "Punjab", 31.5, 74.3),
    ("Australia", "Queensland", -19.0, 146.2),
]
SYLLABLES = ["ra", "mo", "li", "tha", "ce", "pho", "ne", "gla", "dro", "si", "myia", "ta", "vo", "ke", "zu", "pel"]


@dataclass
class Taxon:
    """A node of the generated tree: names from order down to species, and its barcode haplotypes."""

    order: str
    family: str
    subfamily: str | None
    genus: str
    species: str
    haplotypes: list[np.ndarray]
    bins: list[str]
    looks: tuple[float, ...]


def _name(rng: np.random.Generator, parts: int, suffix: str = "") -> str:
    word = "".join(rng.choice(SYLLABLES, size=parts))
    return word.capitalize() + suffix


def _mutate(seq: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Substitutions at `rate` per site: third codon positions 6× faster, transitions 2:1."""
    weights = np.tile([1.0, 0.5, 6.0], len(seq) // 3 + 1)[: len(seq)]
    n = rng.binomial(len(seq), rate)
    if n == 0:
        return seq.copy()
    sites = rng.choice(len(seq), size=min(n, len(seq)), replace=False, p=weights / weights.sum())
    out = seq.copy()
    transitions = rng.random(len(sites)) < 0.67
    out[sites[transitions]] = TRANSITION[seq[sites[transitions]]]
    others = sites[~transitions]
    for site in others:  # transversion, AT-biased
        choices = [b for b in range(4) if b != seq[site] and b != TRANSITION[seq[site]]]
        p = AT_RICH[choices] / AT_RICH[choices].sum()
        out[site] = rng.choice(choices, p=p)
    return out


def build_tree(rng: np.random.Generator, n_species: int) -> list[Taxon]:
    """Generate a taxonomy whose barcodes diverge with taxonomic distance."""
    root = rng.choice(4, size=BARCODE_LENGTH, p=AT_RICH)
    taxa: list[Taxon] = []
    order_weights = np.array([w for _, w, _ in ORDERS])
    per_order = np.maximum(1, np.round(order_weights / order_weights.sum() * n_species)).astype(int)
    bin_counter = 0
    for (order, _, hue), n_order in zip(ORDERS, per_order):
        order_seq = _mutate(root, 0.16, rng)
        n_families = max(1, int(np.ceil(n_order / 6)))
        for _f in range(n_families):
            family = _name(rng, 2, "idae")
            family_seq = _mutate(order_seq, 0.10, rng)
            shape = rng.uniform(0.3, 0.9)  # body aspect ratio: a family trait
            n_genera = max(1, int(np.ceil(n_order / n_families / 3)))
            for g in range(n_genera):
                genus = _name(rng, 2 + g % 2)
                genus_seq = _mutate(family_seq, 0.06, rng)
                subfamily = None if rng.random() < 0.15 else _name(rng, 2, "inae")
                stripes = int(rng.integers(0, 5))  # stripe count: a genus trait
                for _s in range(int(rng.integers(1, 5))):
                    species_seq = _mutate(genus_seq, 0.035, rng)
                    described = rng.random() > 0.35
                    epithet = _name(rng, 2).lower() if described else rng.choice(["sp.", "malaise", "cf."])
                    species = f"{genus} {epithet}" if described else f"{genus} {epithet}{rng.integers(1, 9999)}"
                    haplotypes = [species_seq] + [
                        _mutate(species_seq, 0.008, rng) for _ in range(int(rng.integers(1, 6)))
                    ]
                    bins = []
                    for _ in range(1 + int(rng.random() < 0.1)):
                        bin_counter += 1
                        bins.append(f"BOLD:A{_base26(bin_counter)}")
                    looks = (hue, shape, stripes, rng.uniform(-0.04, 0.04), rng.uniform(0.8, 1.2))
                    taxa.append(Taxon(order, family, subfamily, genus, species, haplotypes, bins, looks))
                    if len(taxa) >= n_species * 2:
                        return taxa
    return taxa


def _base26(n: int) -> str:
    letters = ""
    for _ in range(3):
        n, r = divmod(n, 26)
        letters = chr(65 + r) + letters
    return letters + f"{n % 10000:04d}"


def open_reading_frame(seq: np.ndarray) -> np.ndarray:
    """COI codes for protein, so a real barcode reads through in its frame: an in-frame stop of the
    invertebrate mitochondrial code (TAA, TAG) becomes CAA/CAG, as selection would have kept it."""
    codons = seq[: len(seq) // 3 * 3].reshape(-1, 3)
    stops = (codons[:, 0] == 3) & (codons[:, 1] == 0) & ((codons[:, 2] == 0) | (codons[:, 2] == 2))
    out = seq.copy()
    out[np.flatnonzero(stops) * 3] = 1
    return out


def _barcode_text(seq: np.ndarray, rng: np.random.Generator) -> str:
    """Render a haplotype as release text (in frame: `open_reading_frame`): variable length, rare leading
    N, trailing N padding."""
    text = NUCLEOTIDES[open_reading_frame(seq)].tobytes().decode()
    roll = rng.random()
    if roll < 0.3:
        text = text[: BARCODE_LENGTH - int(rng.integers(1, 120))]
    elif roll < 0.33:
        text = text + "".join(rng.choice(list("ACGT"), size=int(rng.integers(2, 20))))
    if rng.random() < 0.02:
        text = "N" * int(rng.integers(1, 10)) + text[10:]
    if rng.random() < 0.1:
        text = text + "N" * int(rng.integers(1, 40))
    return text


def draw_specimen(taxon: Taxon, rng: np.random.Generator) -> tuple[Image.Image, tuple[int, int, int, int]]:
    """A 1024×768 photo-like image of a specimen in its well, and the organism's bounding box."""

    hue, aspect, stripes, hue_shift, size_factor = taxon.looks
    image = Image.new("RGB", (1024, 768), (int(rng.integers(200, 230)),) * 3)
    draw = ImageDraw.Draw(image)
    draw.ellipse((112, 0, 912, 768), fill=(236, 236, 228))
    length = int(rng.uniform(160, 360) * size_factor)
    width = max(30, int(length * aspect))
    cx, cy = int(rng.integers(380, 640)), int(rng.integers(300, 470))
    box = (cx - length // 2, cy - width // 2, cx + length // 2, cy + width // 2)
    r, g, b = colorsys.hsv_to_rgb((hue + hue_shift + rng.normal(0, 0.01)) % 1, 0.75, rng.uniform(0.45, 0.75))
    body = (int(r * 255), int(g * 255), int(b * 255))
    draw.ellipse(box, fill=body)
    head = width // 2
    draw.ellipse((box[2] - head // 2, cy - head // 2, box[2] + head, cy + head // 2), fill=tuple(c // 2 for c in body))
    for i in range(stripes):
        x = box[0] + (i + 1) * length // (stripes + 1)
        draw.line((x, box[1] + 4, x, box[3] - 4), fill=(30, 25, 20), width=max(3, length // 40))
    for leg in range(3):
        x = box[0] + (leg + 1) * length // 4
        draw.line((x, cy, x - 20, box[1] - 40), fill=(40, 35, 30), width=3)
        draw.line((x, cy, x - 20, box[3] + 40), fill=(40, 35, 30), width=3)
    bbox = (max(0, box[0] - 40), max(0, box[1] - 50), min(1024, box[2] + head + 20), min(768, box[3] + 50))
    return image, bbox


def _jpeg(image: Image.Image, quality: int = 85) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def _resize_256(image: Image.Image) -> Image.Image:
    w, h = image.size
    scale = 256 / min(w, h)
    return image.resize((max(256, round(w * scale)), max(256, round(h * scale))), Image.BILINEAR)


def generate_records(n_records: int, seed: int = 0) -> tuple[list[dict], list[Taxon], list[int]]:
    """Metadata rows (all columns, release formatting), the taxa, and each row's taxon index."""
    rng = np.random.default_rng(seed)
    taxa = build_tree(rng, max(8, n_records // 25))
    weights = 1.0 / np.arange(1, len(taxa) + 1) ** 0.9  # long-tailed species sizes
    rng.shuffle(weights)
    owner = rng.choice(len(taxa), size=n_records, p=weights / weights.sum())
    rows: list[dict] = []
    for i, t in enumerate(owner):
        taxon = taxa[t]
        hap = taxon.haplotypes[min(int(rng.geometric(0.45)) - 1, len(taxon.haplotypes) - 1)]
        known = rng.random()
        # Labels stop at a rank, as in BIOSCAN-5M where most records are unlabelled below family.
        species = taxon.species if known > 0.45 else None
        genus = taxon.genus if known > 0.3 else None
        subfamily = taxon.subfamily if genus else (taxon.subfamily if known > 0.2 else None)
        if genus and subfamily is None:
            subfamily = f"unassigned {taxon.family}"
        family = taxon.family if known > 0.05 else None
        ranks = ["Arthropoda", "Insecta", taxon.order, family, subfamily, genus, species]
        country, province, lat, lon = COUNTRIES[int(rng.integers(len(COUNTRIES)))]
        rows.append(
            {
                "processid": f"{_name(rng, 1).upper()[:4]:X<4}{i:05d}-{22 + i % 3}",
                "sampleid": f"BIOUG{80000 + i}-{'ABCDEFGH'[i % 8]}{1 + i % 12:02d}",
                "taxon": next(r for r in reversed(ranks) if r),
                "phylum": ranks[0],
                "class": ranks[1],
                "order": ranks[2],
                "family": family,
                "subfamily": subfamily,
                "genus": genus,
                "species": species,
                "dna_bin": None if rng.random() < 0.03 else taxon.bins[int(rng.integers(len(taxon.bins)))],
                "dna_barcode": _barcode_text(hap, rng),
                "country": country,
                "province_state": province if rng.random() > 0.05 else None,
                "coord-lat": round(lat + rng.normal(0, 1.5), 4) if rng.random() > 0.05 else None,
                "coord-lon": round(lon + rng.normal(0, 1.5), 4) if rng.random() > 0.05 else None,
                "inferred_ranks": 0 if rng.random() > 0.1 else int(rng.integers(1, 4)),
                "index_bioscan_1M_insect": f"{int(rng.integers(0, 1_128_313))}.0" if rng.random() < 0.2 else None,
            }
        )
    splits = assign_splits(
        [r["species"] for r in rows], [r["genus"] for r in rows], [r["dna_barcode"] for r in rows], seed
    ).splits
    for row, split in zip(rows, splits):
        row["split"] = split
        row["chunk"] = expected_chunk(row["processid"], split)
    return rows, taxa, owner.tolist()


def write_sample_release(
    out: str | Path, scale: str | int = "small", seed: int = 0, images: bool = True, overwrite: bool = False
) -> Path:
    """Write a synthetic release (metadata zip and the four image packages) into `out`: a new or empty
    folder, or one `sample` wrote; a folder holding other files (a real release) is refused unless
    `overwrite`, so the synthetic zips never replace real ones unasked."""
    n_records = SCALES[scale] if isinstance(scale, str) and scale in SCALES else int(scale)
    if n_records < 50:
        raise InputError(f"scale must be small, medium or an integer ≥ 50, got {scale!r}")
    out = user_path(out)
    claim_output_folder(out, "sample", overwrite)
    rows, taxa, owner = generate_records(n_records, seed)
    rng = np.random.default_rng(seed + 1)
    if images:
        _write_images(out, rows, taxa, owner, rng)
    else:
        for row in rows:
            row.update(image_measurement_value=None, area_fraction=None, scale_factor=None)
    write_metadata_zip(out, rows, origin="bioscan-hf synthetic sample")
    return out


def _write_images(out: Path, rows: list[dict], taxa: list[Taxon], owner: list[int], rng: np.random.Generator) -> None:
    groups = {split: group for group, splits in SPLIT_GROUPS.items() for split in splits}
    archives: dict[str, zipfile.ZipFile] = {}

    def archive(name: str) -> zipfile.ZipFile:
        if name not in archives:
            archives[name] = zipfile.ZipFile(out / name, "w", compression=zipfile.ZIP_STORED)
        return archives[name]

    try:
        for row, t in zip(progress_bar(rows, desc="drawing specimen images", unit="img"), owner):
            original, bbox = draw_specimen(taxa[t], rng)
            cropped = original.crop(bbox)
            area = (bbox[2] - bbox[0]) * (bbox[3] - bbox[1])
            row["image_measurement_value"] = int(area * rng.uniform(0.3, 0.6))
            row["area_fraction"] = round(area / (1024 * 768), 4)
            row["scale_factor"] = round(min(cropped.size) / 256, 4)
            part = 1 + int(hashlib.md5(row["processid"].encode()).hexdigest(), 16) % 2
            pid, split, chunk = row["processid"], row["split"], row["chunk"]
            for package, image, zip_name in (
                ("original_full", original, f"BIOSCAN_5M_original_full.{part:02d}.zip"),
                ("cropped", cropped, "BIOSCAN_5M_cropped.01.zip"),
                ("original_256", _resize_256(original), f"BIOSCAN_5M_original_256_{groups[split]}.zip"),
                ("cropped_256", _resize_256(cropped), f"BIOSCAN_5M_cropped_256_{groups[split]}.zip"),
            ):
                archive(zip_name).writestr(image_member_path(package, split, chunk, pid), _jpeg(image))
    finally:
        for handle in archives.values():
            handle.close()
