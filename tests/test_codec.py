"""Canonical encoding, bounded decoding and the signed envelope."""

from __future__ import annotations

import contextlib
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chain import codec
from chain.blocks import Block, Correction, MarketPrices, Settlement, Trade
from chain.crypto import SigningKey, Verifier
from chain.envelope import VERSION, open_envelope, seal, signing_bytes
from chain.errors import DecodeError, PeerError, SignatureError
from chain.messages import decode, sign
from chain.offers import Ack, MeterReading, Offer

KEY = SigningKey.from_seed(bytes(range(32)))
OTHER = SigningKey.from_seed(bytes(range(1, 33)))
CHAIN = b"\x07" * 32

floats = st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False)
ids = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_", min_size=1, max_size=16)


@st.composite
def offers(draw: st.DrawFn) -> Offer:
    h = draw(st.integers(1, 96))
    return Offer(
        chain_id=CHAIN,
        step=draw(st.integers(0, 10**6)),
        household=draw(ids),
        soc_kwh=draw(floats),
        shared_soc_kwh=draw(floats),
        production_kwh=tuple(draw(st.lists(floats, min_size=h, max_size=h))),
        consumption_kwh=tuple(draw(st.lists(floats, min_size=h, max_size=h))),
        meter=tuple(MeterReading(s, draw(floats), draw(floats)) for s in range(draw(st.integers(0, 4)))),
    )


@st.composite
def settlements(draw: st.DrawFn) -> Settlement:
    return Settlement(draw(ids), draw(st.sampled_from(["market", "alone"])), *(draw(floats) for _ in range(18)))


@st.composite
def blocks(draw: st.DrawFn) -> Block:
    return Block(
        chain_id=CHAIN,
        height=draw(st.integers(0, 10**6)),
        step=draw(st.integers(0, 10**6)),
        parent_hash=os.urandom(32),
        offers_root=os.urandom(32),
        settlements_root=os.urandom(32),
        prices=MarketPrices(draw(floats), draw(floats), draw(floats)),
        import_capacity_kw=draw(floats),
        export_capacity_kw=draw(floats),
        offers=tuple(sign(o, KEY).raw for o in draw(st.lists(offers(), max_size=3))),
        settlements=tuple(s.encode() for s in draw(st.lists(settlements(), max_size=3))),
        corrections=tuple(
            Correction(draw(ids), draw(st.integers(0, 10**6)), *(draw(floats) for _ in range(17))).encode()
            for _ in range(draw(st.integers(0, 3)))
        ),
        trades=tuple(Trade(draw(ids), draw(ids), draw(floats), draw(floats)) for _ in range(draw(st.integers(0, 3)))),
        absent=tuple(draw(st.lists(ids, max_size=3))),
        acks=(),
        clearing_status="optimal",
        objective=draw(floats),
    )


@given(offers())
def test_offer_round_trip(offer: Offer) -> None:
    assert Offer.decode(offer.encode()) == offer


@given(settlements())
def test_settlement_round_trip(s: Settlement) -> None:
    assert Settlement.decode(s.encode()) == s


@settings(max_examples=50)
@given(blocks())
def test_block_round_trip_and_signature(block: Block) -> None:
    env = sign(block, KEY)
    opened = open_envelope(env.raw, Verifier())
    assert decode(opened) == block
    assert opened.payload == block.encode()


@given(st.binary(max_size=512))
def test_garbage_only_ever_raises_decode_errors(data: bytes) -> None:
    for decoder in (codec.unpack, Offer.decode, Block.decode, Ack.decode, Settlement.decode, Correction.decode):
        with contextlib.suppress(DecodeError):
            decoder(data)


@given(offers(), st.integers(min_value=0))
def test_any_single_bit_flip_is_rejected(offer: Offer, where: int) -> None:
    raw = bytearray(sign(offer, KEY).raw)
    i = where % (len(raw) * 8)
    raw[i // 8] ^= 1 << (i % 8)
    with pytest.raises(PeerError):
        open_envelope(bytes(raw), Verifier(), allowed=frozenset({KEY.public}))


def test_verification_covers_exact_payload_bytes_without_reencoding() -> None:
    """A payload that decodes to the same offer but is encoded differently does not verify."""
    offer = Offer(CHAIN, 3, "h1", 1.0, 0.0, (1.0,), (2.0,))
    env = sign(offer, KEY)
    # re-encode the same values with a non-canonical (map) encoding and splice in the old signature
    other = codec.pack({"chain_id": CHAIN, "step": 3})
    forged = codec.pack([VERSION, "offer", KEY.public, other, env.signature])
    with pytest.raises(SignatureError):
        open_envelope(forged, Verifier())


def test_signature_covers_the_kind() -> None:
    ack = Ack(CHAIN, 1, "h1", 1, b"\x00" * 32)
    env = sign(ack, KEY)
    forged = codec.pack([VERSION, "offer", KEY.public, env.payload, env.signature])
    with pytest.raises(SignatureError):
        open_envelope(forged, Verifier())
    assert signing_bytes("ack", b"x") != signing_bytes("offer", b"x")


def test_wrong_key_and_unknown_signer() -> None:
    env = seal("ack", b"payload", KEY)
    swapped = codec.pack([VERSION, "ack", OTHER.public, env.payload, env.signature])
    with pytest.raises(SignatureError):
        open_envelope(swapped, Verifier())
    with pytest.raises(SignatureError, match="not allowed"):
        open_envelope(env.raw, Verifier(), allowed=frozenset({OTHER.public}))


def test_oversize_and_truncated() -> None:
    env = seal("ack", b"x" * 1000, KEY)
    with pytest.raises(DecodeError, match="exceeds the limit"):
        open_envelope(env.raw, Verifier(), max_bytes=500)
    with pytest.raises(DecodeError):
        open_envelope(env.raw[:-10], Verifier())


def test_nesting_is_bounded() -> None:
    deep: object = []
    for _ in range(50):
        deep = [deep]
    with pytest.raises(DecodeError, match="nesting"):
        codec.unpack(codec.pack(deep))


def test_offer_rejects_bad_series() -> None:
    good = Offer(CHAIN, 0, "h", 1.0, 0.0, (1.0, 2.0), (1.0, 2.0))
    fields = codec.unpack(good.encode())
    for bad in (
        codec.floats_to_bin([1.0]),
        codec.floats_to_bin([1.0, float("nan")]),
        codec.floats_to_bin([1.0, -2.0]),
        b"abc",
    ):
        broken = list(fields)
        broken[6] = bad
        with pytest.raises(DecodeError):
            Offer.decode(codec.pack(broken))


@pytest.mark.parametrize("value", [-1e-3, 1e7, 1e308])
def test_a_meter_reading_out_of_physical_bounds_does_not_decode(value: float) -> None:
    """A hostile reading of 1e308 kWh would overflow the closing transfers at the value of lost load."""
    from chain.errors import DecodeError
    from chain.offers import MeterReading

    with pytest.raises(DecodeError, match="meter reading"):
        MeterReading.from_fields([3, 0.5, value, 0.0, 0.0, 0.0, 0.0])
    assert MeterReading.from_fields([3, 0.5, 0.25, 0.0, 0.0, 0.0, 0.0]).consumption == 0.25


def test_ed25519_signs_the_rfc_8032_vectors() -> None:
    """RFC 8032, section 7.1, tests 1 and 2: the seed gives the public key, the signature is the vector's,
    and the verifier takes it."""
    vectors = [
        (
            "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
            "",
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46b"
            "d25bf5f0595bbe24655141438e7a100b",
        ),
        (
            "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
            "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
            "72",
            "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c"
            "387b2eaeb4302aeeb00d291612bb0c00",
        ),
    ]
    for seed, public, message, signature in vectors:
        key = SigningKey.from_seed(bytes.fromhex(seed))
        assert key.public.hex() == public and key.seed().hex() == seed
        assert key.sign(bytes.fromhex(message)).hex() == signature
        Verifier().verify(key.public, bytes.fromhex(signature), bytes.fromhex(message))
