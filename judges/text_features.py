"""Hashed n-gram features of many texts at once, in numpy: what the learned judge reads.

scikit-learn's vectorisers build every n-gram as a Python string; on 100,000 responses of ~600
characters that is about 250 million strings and minutes of CPU, far over the learned judge's
budget (train and label 100,000 responses in 30 s). Here a chunk of texts becomes one array of code
points, and every character n-gram, word and word pair is a 64-bit polynomial hash computed with
whole-array operations, then cut to ``BITS`` bits (the "hashing trick": no vocabulary to store, two
n-grams rarely share a bucket among the few thousand a model ever sees).

One kind of n-gram for a chunk is a ``Grams``: the bucket of every occurrence, in text order, with
each document's slice given by ``offsets``. While labelling, occurrences are never merged into
counts: a linear model's score is a sum over occurrences, so it needs no sort and no per-document set
(merging repeats cost more than everything else together). Bucket 0 stands for n-grams that
straddle two documents; it carries no weight.

Bounded in time and memory: each text is cut to ``MAX_CHARS`` characters, and callers feed chunks.
"""

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from judges.rules import _QUOTES

BITS = 20
MAX_CHARS = 4000
CHAR_SIZES = (2, 3, 4)
_MUL = np.uint64(0x100000001B3)  # odd: the polynomial hash step
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing: the top bits of h * golden are well mixed
_POSITION = np.random.default_rng(20240601).integers(1, 2**63, size=32, dtype=np.uint64) | np.uint64(1)
_SALTS = {"char": 1, "word": 101, "pair": 202}
_CJK_RANGES = ((0x3040, 0x30FF), (0x3400, 0x9FFF), (0xAC00, 0xD7AF), (0xF900, 0xFAFF))  # one character = one word


@dataclass(frozen=True)
class Grams:
    """One kind of n-gram for a chunk of documents: the bucket of every occurrence in text order,
    document d owning ``buckets[offsets[d]:offsets[d + 1]]``."""
    buckets: np.ndarray
    offsets: np.ndarray

    def occurrences(self, columns: np.ndarray, width: int) -> sp.csr_matrix:
        """Documents x ``width`` matrix with one entry per occurrence, in column ``columns[bucket]``.
        Repeated entries are not merged (that would need a sort per document): a product with
        the matrix sums them, which is all labelling needs."""
        data = np.ones(len(self.buckets), dtype=np.float32)
        return sp.csr_matrix((data, columns[self.buckets], self.offsets), shape=(len(self.offsets) - 1, width))


def counts(parts: list[Grams]) -> sp.csr_matrix:
    """Documents x 2**BITS counts over several kinds of n-gram, repeats merged (for training on the
    labelled documents, where document frequencies are needed); bucket 0 dropped."""
    rows = np.concatenate([np.repeat(np.arange(len(g.offsets) - 1), np.diff(g.offsets)) for g in parts])
    cols = np.concatenate([g.buckets for g in parts])
    keep = cols != 0
    matrix = sp.coo_matrix((np.ones(int(keep.sum())), (rows[keep], cols[keep])),
                           shape=(len(parts[0].offsets) - 1, 2 ** BITS)).tocsr()
    matrix.sum_duplicates()
    return matrix


@dataclass(frozen=True)
class Encoded:
    """A chunk of texts as lower-cased code points, each text followed by one separator."""
    text: str  # the lower-cased texts joined, each followed by "\x00": codes as a string
    codes: np.ndarray  # uint32 code points
    kinds: np.ndarray  # int8: OTHER, WORD or CJK
    starts: np.ndarray  # first code of each text
    lengths: np.ndarray

    @property
    def ends(self) -> np.ndarray:
        return self.starts + self.lengths


def _bucket(hashes: np.ndarray, salt: int) -> np.ndarray:
    mixed = (hashes ^ np.uint64(salt)) * _GOLDEN
    return (mixed >> np.uint64(64 - BITS)).astype(np.int64)


OTHER, WORD, CJK = 0, 1, 2


def _character_tables() -> tuple[np.ndarray, np.ndarray]:
    """Lower-cased code point and kind (OTHER, WORD, CJK) of every character of Unicode's basic
    plane, computed once per process: a chunk then maps its characters with one gather."""
    chars = [chr(code) for code in range(0x10000)]
    lower = np.array([_lower(char) for char in chars], dtype=np.uint32)
    kinds = np.array([char.isalnum() or char == "_" for char in chars], dtype=np.int8) * WORD
    kinds[_is_cjk(lower) & (kinds == WORD)] = CJK
    return lower, kinds


def _lower(char: str) -> int:
    char = _QUOTES.get(char, char)
    lowered = char.lower()
    return ord(lowered) if len(lowered) == 1 else ord(char)


def _is_cjk(codes: np.ndarray) -> np.ndarray:
    return np.any([(codes >= lo) & (codes <= hi) for lo, hi in _CJK_RANGES], axis=0)


_TABLES = None


def encode(texts) -> Encoded:
    """Texts (None and non-strings become "") cut to MAX_CHARS, lower-cased, curly quotes
    straightened, each character's kind (word, CJK, other) noted."""
    global _TABLES
    if _TABLES is None:
        _TABLES = _character_tables()
    texts = [t[:MAX_CHARS] if isinstance(t, str) else "" for t in texts]
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    joined = "\x00".join(texts) + "\x00"
    codes = np.frombuffer(joined.encode("utf-32-le", errors="surrogatepass"), dtype=np.uint32)
    basic = np.minimum(codes, 0xFFFF)
    lower, kinds = _TABLES[0][basic], _TABLES[1][basic]
    astral = np.flatnonzero(codes > 0xFFFF)  # emoji and rarer scripts: looked at one by one
    if len(astral):
        chars = [chr(c) for c in codes[astral].tolist()]
        lower[astral] = [_lower(char) for char in chars]
        kinds[astral] = [WORD if char.isalnum() else OTHER for char in chars]
    starts = np.concatenate([[0], np.cumsum(lengths + 1)[:-1]]).astype(np.int64)
    return Encoded(lower.tobytes().decode("utf-32-le", errors="surrogatepass"), lower, kinds, starts, lengths)


def char_grams(enc: Encoded, sizes=CHAR_SIZES) -> list[Grams]:
    """Every character n-gram of the given sizes (2 or more; spaces and punctuation included), one
    ``Grams`` per size."""
    codes = enc.codes.astype(np.uint64)
    hashes, parts = codes, []
    bounds = np.append(enc.starts, len(codes))
    for n in range(2, max(sizes) + 1):
        hashes = hashes[:-1] * _MUL + codes[n - 1:]
        if n not in sizes:
            continue
        buckets = _bucket(hashes, _SALTS["char"] + n)
        # n-grams that start in a text's last n-1 characters or on its separator run into the next text
        straddle = (enc.ends[:, None] - np.arange(n)[None, :]).ravel()
        buckets[straddle[(straddle >= 0) & (straddle < len(buckets))]] = 0
        parts.append(Grams(buckets, np.minimum(bounds, len(buckets))))
    return parts


@dataclass(frozen=True)
class Words:
    """Word tokens of a chunk: a 64-bit hash each, the document each belongs to, its length."""
    hashes: np.ndarray
    docs: np.ndarray
    lengths: np.ndarray
    offsets: np.ndarray  # document d's tokens are [offsets[d], offsets[d + 1])


def words(enc: Encoded) -> Words:
    """Runs of letters and digits; a CJK character is a word of its own (those scripts use no spaces)."""
    word = enc.kinds != OTHER
    cjk = enc.kinds == CJK
    previous, previous_cjk = np.zeros_like(word), np.zeros_like(cjk)
    previous[1:], previous_cjk[1:] = word[:-1], cjk[:-1]
    first = word & (~previous | cjk | previous_cjk)
    inside = np.flatnonzero(word)
    heads = np.flatnonzero(first)
    starts_token = first[inside]
    token = np.cumsum(starts_token, dtype=np.int64) - 1
    token_heads = np.flatnonzero(starts_token)
    within = np.minimum(inside - heads[token], len(_POSITION) - 1)
    mixed = enc.codes[inside].astype(np.uint64) * _POSITION[within]
    hashes = np.add.reduceat(mixed, token_heads) if len(heads) else mixed[:0]
    lengths = np.diff(np.append(token_heads, len(inside)))
    offsets = np.searchsorted(heads, np.append(enc.starts, len(enc.codes)))
    docs = np.repeat(np.arange(len(enc.starts)), np.diff(offsets))
    return Words(hashes, docs, lengths, offsets)


def word_grams(tokens: Words) -> list[Grams]:
    """Words, and pairs of neighbouring words (a text's last word pairs with nothing)."""
    singles = _bucket(tokens.hashes, _SALTS["word"])
    pairs = np.zeros(len(tokens.hashes), dtype=np.int64)
    pairs[:-1] = _bucket(tokens.hashes[:-1] * _MUL + tokens.hashes[1:] * np.uint64(3), _SALTS["pair"])
    last = tokens.offsets[1:] - 1
    pairs[last[last >= 0]] = 0
    return [Grams(singles, tokens.offsets), Grams(pairs, tokens.offsets)]
