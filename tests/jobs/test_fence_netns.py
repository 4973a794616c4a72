"""Fencing on a real network: the worker runs in a network namespace of the test's own and
reaches PostgreSQL over a veth link that the test takes down in the kernel. Packets are
dropped without an error, as on a dead network, so only the worker's own clock (the fence)
and its TCP timeouts can tell. A second worker, on the host, rescues what the cut one held.
"""

import pytest

from tests import netns
from tests.partition import cut_and_heal
from tests.relay import Link

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def namespace():
    usable, why_not = netns.available()
    if not usable:
        pytest.skip(f"no network namespace: {why_not}")
    with netns.Namespace() as made:
        yield made


@pytest.fixture
def relay(namespace):
    # The host's end of the link, relayed to the suite's server (which listens on loopback).
    made = Link(listen=namespace.host_address)
    yield made
    made.close()


def test_a_worker_behind_a_dead_link_fences_itself_and_is_back_within_5_s_of_the_heal(
    namespace, relay, start_worker
):
    far = start_worker("--concurrency", "3", url=relay.url(), prefix=namespace.prefix)
    fenced_after, back_after = cut_and_heal(
        far, start_worker, cut=namespace.cut, heal=namespace.heal
    )
    print(f"netns: fenced {fenced_after:.2f} s after the cut, back {back_after:.2f} s after heal")
