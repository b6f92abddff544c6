"""The article's services (../../shared/seed: Main -> A -> B -> C -> {C1..C4} -> D -> Main) as
plain functions on bytes, standard library only. serve.py runs one of them as an mpipe
`kernel: exec` worker; reference.py runs them all in one process, in order, as the serial
reference. Every function is deterministic: its reply depends only on its input bytes (no
hash(), no clock, no set order).

Each stage does its kind of work for about the article's time at 1/5 scale (SCALE) on the 2-core
VM the example was tuned on: the work that is naturally constant (PBKDF2 iterations) is sized
directly; the work that grows with the document (parsing, counting, min-hashing, encoding) is
done in as many passes as bring a document up to a fixed budget of bytes or words, so that a
short license costs about as much as a long one. Every pass computes the same result (checked),
so the pass count changes the time, never the reply.

    stage  article  here (1/5)  work
    A       200 ms     40 ms    JSON-decode the document, tokenize it into lower-case words
    B       150 ms     30 ms    sha256 of the words, stretched with PBKDF2-HMAC-SHA256
    C         0 ms     ~1 ms    the hub: zlib-compress B's reply, fanned out to C1..C4
    C1      150 ms     30 ms    decompress; word counts, top 10 words
    C2      200 ms     40 ms    decompress; word bigrams and trigrams, top 5 trigrams
    C3      300 ms     60 ms    decompress; 4-word shingles, 32-function MinHash signature
    C4      100 ms     20 ms    base64 and Ascii85 of the compressed bytes, decoded back, checked
    D        50 ms     10 ms    the join: checks the four replies are one document's, merges them
                                into a JSON summary sealed with PBKDF2
"""

from __future__ import annotations

import base64
import collections
import hashlib
import json
import re
import zlib

SCALE = 0.2  # of the article's times

# Work budgets, tuned with `reference.py --times` on the 2-core VM (Debian 12, Python 3.11).
A_TEXT_BYTES = 1_400_000  # A tokenizes until this many characters of text have been parsed
B_ITERATIONS = 110_000  # PBKDF2-HMAC-SHA256 iterations
C1_WORDS = 620_000  # C1 counts until this many words have been counted
C2_WORDS = 200_000  # C2 counts n-grams over this many words
C3_SHINGLES = 12_000  # C3 min-hashes this many shingles (x 32 functions)
C4_BYTES = 110_000  # C4 encodes and decodes this many compressed bytes
D_ITERATIONS = 35_000  # PBKDF2 iterations of D's seal

WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
SENTENCE_END = re.compile(r"[.!?](?:\s|$)")
MINHASH_FUNCTIONS = 32
MERSENNE_61 = (1 << 61) - 1


def passes(size: int, budget: int) -> int:
    """How many passes over `size` units bring the work up to `budget` units (at least one)."""
    return max(1, round(budget / max(1, size)))


def repeat(work, count: int):
    """work() `count` times; every pass must give the same result, which is returned."""
    result = work()
    for _ in range(count - 1):
        if work() != result:
            raise RuntimeError("a pass gave a different result: the stage is not deterministic")
    return result


def dumps(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def unpack(blob: bytes) -> dict:
    """C's reply back into B's document (what C1..C4 each start with)."""
    return json.loads(zlib.decompress(blob))


# A: parse. In: the input file's bytes (a JSON document with id, source, title, lines, text).
def parse(data: bytes) -> bytes:
    def work():
        doc = json.loads(data)
        text = doc["text"]
        words = WORD.findall(text.lower())
        sentences = len(SENTENCE_END.findall(text))
        return doc, words, sentences

    size = len(json.loads(data)["text"])
    doc, words, sentences = repeat(work, passes(size, A_TEXT_BYTES))
    return dumps({"id": doc["id"], "source": doc["source"], "title": doc["title"],
                  "lines": doc["lines"], "chars": size, "sentences": sentences,
                  "words": len(words), "tokens": " ".join(words)})


# B: hash. In: A's reply. Out: A's fields plus the digest of the words and its stretched key.
def hash_words(data: bytes) -> bytes:
    doc = json.loads(data)
    digest = hashlib.sha256(doc["tokens"].encode()).digest()
    key = hashlib.pbkdf2_hmac("sha256", digest, doc["id"].encode(), B_ITERATIONS)
    doc["sha256"] = digest.hex()
    doc["pbkdf2_sha256"] = key.hex()
    return dumps(doc)


# C: the hub. In: B's reply. Out: the same bytes, zlib level 9, sent to each of C1..C4.
def compress(data: bytes) -> bytes:
    return zlib.compress(data, 9)


# C1: word counts.
def word_counts(blob: bytes) -> bytes:
    doc = unpack(blob)
    words = doc["tokens"].split()

    def work():
        counts = collections.Counter(words)
        return len(counts), counts.most_common(10)  # ties: first seen first

    distinct, top = repeat(work, passes(len(words), C1_WORDS))
    return dumps({"id": doc["id"], "distinct_words": distinct,
                  "top_words": [[w, n] for w, n in top]})


# C2: n-grams.
def ngrams(blob: bytes) -> bytes:
    doc = unpack(blob)
    words = doc["tokens"].split()

    def work():
        bigrams = collections.Counter(zip(words, words[1:]))
        trigrams = collections.Counter(zip(words, words[1:], words[2:]))
        top = trigrams.most_common(5)  # ties: first seen first
        return len(bigrams), len(trigrams), top

    bigrams, trigrams, top = repeat(work, passes(len(words), C2_WORDS))
    return dumps({"id": doc["id"], "distinct_bigrams": bigrams, "distinct_trigrams": trigrams,
                  "top_trigrams": [[" ".join(t), n] for t, n in top]})


def _minhash_coefficients():
    """MINHASH_FUNCTIONS (a, b) pairs for h(x) = (a x + b) mod 2^61 - 1, from sha256 (fixed)."""
    out = []
    for i in range(MINHASH_FUNCTIONS):
        d = hashlib.sha256(b"mpipe-minhash-%d" % i).digest()
        out.append((int.from_bytes(d[:8], "little") % (MERSENNE_61 - 1) + 1,
                    int.from_bytes(d[8:16], "little") % MERSENNE_61))
    return out


MINHASH_COEFFICIENTS = _minhash_coefficients()


# C3: checksums and a MinHash signature of the document's 4-word shingles.
def minhash(blob: bytes) -> bytes:
    doc = unpack(blob)
    words = doc["tokens"].split()
    shingles = sorted({" ".join(words[i:i + 4]) for i in range(max(1, len(words) - 3))})

    def work():
        xs = [zlib.crc32(s.encode()) | (zlib.adler32(s.encode()) << 32) for s in shingles]
        return [min((a * x + b) % MERSENNE_61 for x in xs) for a, b in MINHASH_COEFFICIENTS]

    signature = repeat(work, passes(len(shingles), C3_SHINGLES))
    packed = b"".join(v.to_bytes(8, "little") for v in signature)
    return dumps({"id": doc["id"], "shingles": len(shingles), "minhash": signature,
                  "minhash_sha1": hashlib.sha1(packed).hexdigest(),
                  "crc32": zlib.crc32(blob), "adler32": zlib.adler32(blob)})


# C4: text encodings of the compressed bytes, each decoded back and checked.
def encodings(blob: bytes) -> bytes:
    doc = unpack(blob)

    def work():
        b64 = base64.b64encode(blob)
        a85 = base64.a85encode(blob, wrapcol=76)
        if base64.b64decode(b64) != blob or base64.a85decode(a85) != blob:
            raise RuntimeError("an encoding did not decode back to the compressed bytes")
        return b64, a85

    b64, a85 = repeat(work, passes(len(blob), C4_BYTES))
    return dumps({"id": doc["id"], "compressed_bytes": len(blob), "base64_chars": len(b64),
                  "base64_head": b64[:24].decode(), "base64_sha1": hashlib.sha1(b64).hexdigest(),
                  "ascii85_chars": len(a85), "ascii85_sha1": hashlib.sha1(a85).hexdigest(),
                  "sha256": doc["sha256"], "pbkdf2_sha256": doc["pbkdf2_sha256"],
                  "title": doc["title"], "words": doc["words"], "sentences": doc["sentences"],
                  "lines": doc["lines"], "chars": doc["chars"]})


# D: the join. In: C1, C2, C3, C4's replies, in the spec's edge order. Out: the item's result.
def join(c1: bytes, c2: bytes, c3: bytes, c4: bytes) -> bytes:
    parts = {"words": json.loads(c1), "ngrams": json.loads(c2), "minhash": json.loads(c3),
             "encodings": json.loads(c4)}
    ids = {name: part.pop("id") for name, part in parts.items()}
    if len(set(ids.values())) != 1:
        raise RuntimeError(f"D joined replies of different documents: {ids}")
    enc = parts["encodings"]
    summary = {"id": ids["words"],
               "document": {k: enc.pop(k) for k in
                            ("title", "lines", "chars", "sentences", "words", "sha256",
                             "pbkdf2_sha256")},
               **parts}
    body = dumps(summary)
    summary["seal"] = hashlib.pbkdf2_hmac("sha256", body, b"D", D_ITERATIONS).hex()
    return (json.dumps(summary, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode()


# The pipeline, in the order a serial run calls the stages; C1..C4 each get C's reply.
STAGES = {"A": parse, "B": hash_words, "C": compress, "C1": word_counts, "C2": ngrams,
          "C3": minhash, "C4": encodings, "D": join}
ARTICLE_MS = {"A": 200, "B": 150, "C": 0, "C1": 150, "C2": 200, "C3": 300, "C4": 100, "D": 50}
