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

import functools
import threading
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from judges import overlap, rules
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


def overlaps(responses: Encoded, prompts: list, prompt_of: np.ndarray) -> np.ndarray:
    """judges/overlap.py's overlap for every response at once: the share of its prompt's content
    words (``overlap.content_words``: stemmed, no stop words) that the response uses, NaN where
    overlap.py says it cannot be told. The same words, stems and thresholds, so the learned judge
    and the rule judge read "engages the question" alike; only the response's words are found with
    array operations, and each distinct word is stemmed once (overlap.py's per-response regex and
    stemming would cost ~13 s per 100,000 responses). ``prompts`` are the distinct prompt
    texts, ``prompt_of[d]`` the index of response d's prompt. Reads the first MAX_CHARS characters."""
    import pandas as pd

    docs, starts, stops = _latin_words(responses)
    token, distinct = pd.factorize(_span_hashes(responses.codes, starts, stops))
    first = np.zeros(len(distinct), dtype=np.int64)
    first[token[::-1]] = np.arange(len(token))[::-1]  # each word's first occurrence
    ids, stem_names = _STEMS.ids(np.asarray(distinct, dtype=np.uint64),
                                 lambda new: (responses.text[a:b] for a, b in zip(starts[first[new]].tolist(),
                                                                                   stops[first[new]].tolist())))
    stem_of = ids[token]
    width = len(stem_names) + 1  # (document, stem) as one integer: document * width + stem
    pairs = pd.unique(docs[stem_of >= 0] * width + stem_of[stem_of >= 0])
    pair_docs = pairs // width
    used = np.bincount(pair_docs, minlength=len(prompt_of))
    wanted = [_prompt_words(prompt) for prompt in prompts]
    asked = np.array([len(words) for words in wanted], dtype=np.int64)[prompt_of]
    owner = np.repeat(np.arange(len(wanted)), [len(words) for words in wanted])
    found = np.array([stem_names.get(word, -1) for words in wanted for word in words], dtype=np.int64)
    hit = np.isin(prompt_of[pair_docs] * width + pairs % width, owner[found >= 0] * width + found[found >= 0])
    matched = np.bincount(pair_docs[hit], minlength=len(prompt_of))
    known = (asked >= overlap.MIN_PROMPT_WORDS) & (used >= overlap.MIN_RESPONSE_WORDS)
    return np.where(known, matched / np.maximum(asked, 1), np.nan)


@functools.lru_cache(maxsize=10_000)
def _prompt_words(prompt: str) -> tuple:
    """A prompt's content words as the rule judge reads them (judges/rules.py's _Prompt)."""
    return tuple(sorted(overlap.content_words(rules.normalise_text(prompt))))


class _Stems:
    """Word hash -> stem id (-1: a stop word or too short), remembered across chunks: a few thousand
    words make up most of any chunk, so after the first chunks Python stems only new words.
    Forgets everything past MAX_WORDS (hostile input cannot grow it without bound)."""

    MAX_WORDS = 500_000

    def __init__(self):
        self.lock = threading.Lock()  # the app may run two judges on two threads
        self.clear()

    def clear(self):
        import pandas as pd

        self.index = pd.Index(np.zeros(0, dtype=np.uint64))
        self.stem_ids = np.zeros(0, dtype=np.int64)
        self.of_name = {}

    def ids(self, hashes: np.ndarray, words) -> tuple[np.ndarray, dict]:
        """Stem ids of distinct word ``hashes`` and the stem -> id table they index; ``words(new)``
        yields the word of each new hash, in order."""
        import pandas as pd

        with self.lock:
            if len(self.index) + len(hashes) > self.MAX_WORDS:
                self.clear()
            where = self.index.get_indexer(hashes)
            new = np.flatnonzero(where < 0)
            if len(new):
                found = []
                for word in words(new):
                    stem = overlap.content_words(word)
                    found.append(self.of_name.setdefault(min(stem), len(self.of_name)) if stem else -1)
                self.index = self.index.append(pd.Index(hashes[new]))
                self.stem_ids = np.concatenate([self.stem_ids, np.array(found, dtype=np.int64)])
                where = self.index.get_indexer(hashes)
            return self.stem_ids[where], self.of_name


_STEMS = _Stems()


def _latin_words(enc: Encoded) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """overlap.py's words (``[a-z][a-z']*[a-z]``): runs of letters and apostrophes without their
    outer apostrophes, two characters or more. Their document, start and stop in ``enc.text``."""
    codes = enc.codes
    inside = ((codes >= 97) & (codes <= 122)) | (codes == 39)
    edge = np.diff(inside.astype(np.int8), prepend=0, append=0)
    starts, stops = np.flatnonzero(edge == 1), np.flatnonzero(edge == -1)
    while True:  # strip outer apostrophes (rare: a few rounds)
        lead = (codes[starts] == 39) & (starts < stops)
        trail = (codes[np.maximum(stops - 1, 0)] == 39) & (starts < stops)
        if not (lead.any() or trail.any()):
            break
        starts, stops = starts + lead, stops - trail
    keep = stops - starts >= 2
    starts, stops = starts[keep], stops[keep]
    return np.searchsorted(enc.starts, starts, side="right") - 1, starts, stops


def _span_hashes(codes: np.ndarray, starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each codes[start:stop] (positions weighted like word tokens)."""
    if not len(starts):
        return np.zeros(0, dtype=np.uint64)
    widths = stops - starts
    position = np.arange(int(widths.sum())) - np.repeat(np.cumsum(widths) - widths, widths)
    index = np.repeat(starts, widths) + position
    mixed = codes[index].astype(np.uint64) * _POSITION[np.minimum(position, len(_POSITION) - 1)]
    return np.add.reduceat(mixed, np.cumsum(widths) - widths)
