"""The audit log's Merkle tree against RFC 9162's definitions, read literally; proofs that verify, and fail
when the leaf, a hash of the proof or the roots are wrong (tree sizes are trusted from signed checkpoints, as in
RFC 9162, so they are not what a proof defends); signed checkpoints."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from appban.errors import InvalidInput
from appban.merkle import (
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    read_checkpoint,
    sign_checkpoint,
    tree_root,
    verify_consistency,
    verify_inclusion,
)

LEAVES = st.lists(st.binary(max_size=8), min_size=1, max_size=70)


def mth(leaves: list[bytes]) -> bytes:
    """RFC 9162 2.1.1, as written: the recursive definition with k the largest power of two below n."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:])).digest()


def test_known_answers() -> None:
    assert tree_root([]).hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert tree_root([b""]).hex() == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"


@pytest.mark.parametrize("size", range(0, 70))
def test_the_root_is_the_rfc_definition(size: int) -> None:
    leaves = [bytes([i]) * (i % 5) for i in range(size)]
    assert tree_root(leaves) == mth(leaves)


@settings(max_examples=200, deadline=None)
@given(LEAVES, st.data())
def test_every_leaf_has_an_inclusion_proof_that_nothing_else_passes(leaves: list[bytes], data: st.DataObject) -> None:
    root = tree_root(leaves)
    index = data.draw(st.integers(0, len(leaves) - 1))
    proof = inclusion_proof(index, leaves)
    assert verify_inclusion(leaves[index], index, len(leaves), proof, root)
    assert not verify_inclusion(leaves[index] + b"x", index, len(leaves), proof, root)
    assert not verify_inclusion(leaves[index], len(leaves), len(leaves), proof, root)  # no such position
    if proof:
        spot = data.draw(st.integers(0, len(proof) - 1))
        bent = [*proof[:spot], bytes(32), *proof[spot + 1:]]
        assert not verify_inclusion(leaves[index], index, len(leaves), bent, root)
        assert not verify_inclusion(leaves[index], index, len(leaves), proof[:-1], root)


@settings(max_examples=200, deadline=None)
@given(LEAVES, st.data())
def test_a_longer_log_proves_it_extends_a_shorter_one_and_a_rewritten_one_cannot(
        leaves: list[bytes], data: st.DataObject) -> None:
    old_size = data.draw(st.integers(1, len(leaves)))
    old_root, new_root = tree_root(leaves[:old_size]), tree_root(leaves)
    proof = consistency_proof(old_size, leaves)
    assert verify_consistency(old_size, len(leaves), old_root, new_root, proof)
    # history rewritten: one of the first old_size entries changed, the rest kept
    spot = data.draw(st.integers(0, old_size - 1))
    rewritten = [*leaves[:spot], leaves[spot] + b"!", *leaves[spot + 1:]]
    forged = consistency_proof(old_size, rewritten)
    assert not verify_consistency(old_size, len(leaves), old_root, tree_root(rewritten), forged)
    if old_size < len(leaves):  # the proof does not pass for another new root
        assert not verify_consistency(old_size, len(leaves), old_root, tree_root(leaves[:-1]), proof)


@given(LEAVES)
def test_a_proof_of_the_whole_tree_is_empty_and_sizes_out_of_range_are_refused(leaves: list[bytes]) -> None:
    assert consistency_proof(len(leaves), leaves) == []
    with pytest.raises(ValueError, match="no consistency proof"):
        consistency_proof(0, leaves)
    with pytest.raises(ValueError, match="is not in a tree"):
        inclusion_proof(len(leaves), leaves)
    assume(len(leaves) > 1)
    assert not verify_consistency(2, 1, tree_root(leaves[:2]), tree_root(leaves[:1]), [])


def test_a_checkpoint_reads_back_and_any_change_is_refused_naming_the_line() -> None:
    key = Ed25519PrivateKey.generate()
    leaves = [f"entry {i}".encode() for i in range(11)]
    checkpoint = sign_checkpoint(11, tree_root(leaves), key)
    assert read_checkpoint(checkpoint.text, key.public_key(), "cp.txt") == checkpoint
    lines = checkpoint.text.split("\n")
    grown = "\n".join([lines[0], "12", *lines[2:]])
    with pytest.raises(InvalidInput, match=r"cp.txt:5: the signature does not verify"):
        read_checkpoint(grown, key.public_key(), "cp.txt")
    with pytest.raises(InvalidInput, match=r"cp.txt:5: the signature does not verify"):
        read_checkpoint(checkpoint.text, Ed25519PrivateKey.generate().public_key(), "cp.txt")
    with pytest.raises(InvalidInput, match=r"cp.txt:1: is not an appban audit checkpoint"):
        read_checkpoint("hello\n", key.public_key(), "cp.txt")
    with pytest.raises(InvalidInput, match=r"cp.txt:2: the tree size"):
        read_checkpoint("\n".join([lines[0], "eleven", *lines[2:]]), key.public_key(), "cp.txt")


@given(st.text(max_size=300))
def test_whatever_text_is_given_as_a_checkpoint_only_invalid_input_comes_out(text: str) -> None:
    key = Ed25519PrivateKey.generate()
    with pytest.raises(InvalidInput):
        read_checkpoint(text, key.public_key(), "cp.txt")


def test_leaf_and_node_hashes_cannot_be_confused() -> None:
    left, right = leaf_hash(b"a"), leaf_hash(b"b")
    # a 64-byte leaf made of two hashes does not hash like the node above them
    assert tree_root([left + right]) != tree_root([b"a", b"b"])
