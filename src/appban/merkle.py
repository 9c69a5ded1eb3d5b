"""The audit log as a Merkle tree (RFC 9162, section 2.1, as Certificate Transparency builds it), and signed
checkpoints of it.

A hash chain shows that entries were not changed one at a time, but whoever can write the database can
rewrite the whole chain. A checkpoint (tree size and root, signed with Ed25519) published outside the
operator's reach pins the history: any later log must contain it unchanged, which a consistency proof shows
in a few dozen hashes, and a single entry's presence is shown by an inclusion proof. Leaf and node hashes
carry distinct prefixes (0x00, 0x01) so a leaf can never pass for a node. Pure: values in, values out.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from appban.errors import InvalidInput

__all__ = [
    "CHECKPOINT_ORIGIN",
    "Checkpoint",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "read_checkpoint",
    "sign_checkpoint",
    "tree_root",
    "verify_consistency",
    "verify_inclusion",
]

CHECKPOINT_ORIGIN = "appban audit log"
_EMPTY = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def tree_root(leaves: Sequence[bytes]) -> bytes:
    """MTH of the leaves' data, in one pass with a stack of complete subtrees (no recursion, no copies)."""
    stack: list[tuple[int, bytes]] = []  # (size, hash) of complete subtrees, sizes strictly decreasing
    for data in leaves:
        size, digest = 1, leaf_hash(data)
        while stack and stack[-1][0] == size:
            left_size, left = stack.pop()
            size, digest = left_size + size, node_hash(left, digest)
        stack.append((size, digest))
    if not stack:
        return _EMPTY
    digest = stack.pop()[1]
    while stack:  # fold the incomplete right edge, smallest subtree first
        digest = node_hash(stack.pop()[1], digest)
    return digest


def inclusion_proof(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PATH(index, D[n]): the sibling hashes from the leaf up to the root."""
    if not 0 <= index < len(leaves):
        raise ValueError(f"leaf {index} is not in a tree of {len(leaves)}")
    return _path(index, leaves, 0, len(leaves))


def verify_inclusion(data: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> bool:
    """Whether `data` is leaf `index` of the tree of `size` leaves whose root is `root` (RFC 9162 2.1.3.2)."""
    if not 0 <= index < size:
        return False
    fn, sn, digest = index, size - 1, leaf_hash(data)
    for sibling in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            digest = node_hash(sibling, digest)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            digest = node_hash(digest, sibling)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and digest == root


def consistency_proof(old_size: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]): what shows the tree of the first `old_size` leaves is a prefix of this one."""
    if not 0 < old_size <= len(leaves):
        raise ValueError(f"no consistency proof from size {old_size} to size {len(leaves)}")
    return [] if old_size == len(leaves) else _subproof(old_size, leaves, 0, len(leaves), True)


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes,
                       proof: Sequence[bytes]) -> bool:
    """Whether the tree (new_size, new_root) extends the tree (old_size, old_root) (RFC 9162 2.1.4.2)."""
    if not 0 < old_size <= new_size:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is itself a node of the path
        path.insert(0, old_root)
    if not path:
        return False
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for sibling in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(sibling, fr), node_hash(sibling, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, sibling)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == old_root and sr == new_root


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed statement of the log's size and root; `text` is what is published (and what was signed)."""

    size: int
    root: bytes
    signature: bytes

    @property
    def body(self) -> str:
        return f"{CHECKPOINT_ORIGIN}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"

    @property
    def text(self) -> str:
        return f"{self.body}\n— {base64.b64encode(self.signature).decode()}\n"


def sign_checkpoint(size: int, root: bytes, key: Ed25519PrivateKey) -> Checkpoint:
    unsigned = Checkpoint(size, root, b"")
    return Checkpoint(size, root, key.sign(unsigned.body.encode()))


def read_checkpoint(text: str, key: Ed25519PublicKey, source: str) -> Checkpoint:
    """Parse a published checkpoint and check its signature; InvalidInput naming the line at fault."""
    lines = text.split("\n")
    if len(lines) != 6 or lines[0] != CHECKPOINT_ORIGIN or lines[3] != "" or not lines[4].startswith("— ") \
            or lines[5] != "":
        raise InvalidInput.at(source, "is not an appban audit checkpoint", line=1,
                              hint=f"a checkpoint is 5 lines: {CHECKPOINT_ORIGIN!r}, the size, the root, a blank "
                                   "line and the signature, as `appban audit checkpoint` writes them")
    if not lines[1].isdigit():
        raise InvalidInput.at(source, f"the tree size {lines[1][:20]!r} is not a number", line=2)
    try:
        root = base64.b64decode(lines[2], validate=True)
        signature = base64.b64decode(lines[4][2:], validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput.at(source, "the root or the signature is not base64", line=3) from None
    if len(root) != 32:
        raise InvalidInput.at(source, "the root is not a SHA-256 hash", line=3)
    checkpoint = Checkpoint(int(lines[1]), root, signature)
    try:
        key.verify(signature, checkpoint.body.encode())
    except InvalidSignature:
        raise InvalidInput.at(source, "the signature does not verify with the given public key", line=5,
                              hint="the checkpoint was changed, or it was signed with another key") from None
    return checkpoint


def _largest_power_below(n: int) -> int:
    """The largest power of two strictly below n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _root(leaves: Sequence[bytes], start: int, end: int) -> bytes:
    return tree_root(leaves[start:end]) if end - start > 1 else leaf_hash(leaves[start])


def _path(index: int, leaves: Sequence[bytes], start: int, end: int) -> list[bytes]:
    if end - start == 1:
        return []
    k = _largest_power_below(end - start)
    if index < k:
        return [*_path(index, leaves, start, start + k), _root(leaves, start + k, end)]
    return [*_path(index - k, leaves, start + k, end), _root(leaves, start, start + k)]


def _subproof(m: int, leaves: Sequence[bytes], start: int, end: int, whole: bool) -> list[bytes]:
    n = end - start
    if m == n:
        return [] if whole else [_root(leaves, start, end)]
    k = _largest_power_below(n)
    if m <= k:
        return [*_subproof(m, leaves, start, start + k, whole), _root(leaves, start + k, end)]
    return [*_subproof(m - k, leaves, start + k, end, False), _root(leaves, start, start + k)]
