"""The egress guard's rules: the refused ranges, FLOWDECK_HTTP_ALLOW, the operator's endpoint."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from pydantic import ValidationError

from flowdeck.config import Settings
from flowdeck.engine.egress import EgressPolicy, parse_allow_list, refused_by_default
from flowdeck.services.container import egress_policy

REFUSED = [
    "0.0.0.0",
    "0.1.2.3",
    "10.1.2.3",
    "100.64.0.1",
    "100.127.255.255",
    "127.0.0.1",
    "127.255.255.254",
    "169.254.169.254",
    "172.16.0.1",
    "172.31.255.255",
    "192.0.0.8",
    "192.0.2.1",
    "192.88.99.1",
    "192.168.1.1",
    "198.18.0.1",
    "198.51.100.1",
    "203.0.113.1",
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    "::",
    "::1",
    "::127.0.0.1",  # IPv4-compatible
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:169.254.169.254",
    "::ffff:10.0.0.1",
    "::ffff:0:a00:1",  # IPv4-translated
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "64:ff9b:1::1",
    "100::1",
    "2001::1",  # Teredo
    "2001:db8::1",
    "2002:7f00:1::1",  # 6to4
    "3fff::1",
    "5f00::1",
    "fc00::1",
    "fd12:3456::1",
    "fe80::1",
    "fe80::1%1",
    "fec0::1",
    "ff02::1",
]
PUBLIC = [
    "1.1.1.1",
    "8.8.8.8",
    "93.184.216.34",
    "100.63.255.255",
    "100.128.0.1",
    "172.15.255.255",
    "172.32.0.1",
    "192.169.0.1",
    "223.255.255.255",
    "2606:4700:4700::1111",
    "2a00:1450::1",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",  # NAT64 of 8.8.8.8
]


@pytest.mark.parametrize("address", REFUSED)
def test_refused_ranges(address: str) -> None:
    assert refused_by_default(ipaddress.ip_address(address))
    assert not EgressPolicy().permits("h", ipaddress.ip_address(address), 80)


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address: str) -> None:
    assert not refused_by_default(ipaddress.ip_address(address))
    assert EgressPolicy().permits("h", ipaddress.ip_address(address), 80)


def permits(policy: EgressPolicy, host: str, address: str, port: int) -> bool:
    return policy.permits(host, ipaddress.ip_address(address), port)


def test_a_cidr_opens_its_addresses_on_every_port() -> None:
    policy = parse_allow_list("10.0.0.0/8, fd00::/8")
    assert permits(policy, "db", "10.9.8.7", 5432) and permits(policy, "x", "10.0.0.1", 80)
    assert permits(policy, "v6", "fd00::5", 443)
    assert permits(policy, "mapped", "::ffff:10.1.1.1", 80)
    assert permits(policy, "db", "11.0.0.1", 5432)  # public anyway
    assert not permits(policy, "lo", "127.0.0.1", 80)
    assert not permits(policy, "meta", "169.254.169.254", 80)


def test_a_host_opens_that_name_only_whatever_it_resolves_to() -> None:
    policy = parse_allow_list("Intranet.Example.")
    assert permits(policy, "intranet.example", "10.0.0.1", 8080)
    assert permits(policy, "intranet.example.", "127.0.0.1", 80)
    assert not permits(policy, "other.example", "10.0.0.1", 8080)
    assert not permits(policy, "sub.intranet.example", "10.0.0.1", 8080)


def test_host_port_opens_that_port_only() -> None:
    policy = parse_allow_list("localhost:11434, 127.0.0.1:8080, [::1]:9000, 10.0.0.0/8:443")
    assert permits(policy, "localhost", "127.0.0.1", 11434)
    assert not permits(policy, "localhost", "127.0.0.1", 11435)
    assert permits(policy, "127.0.0.1", "127.0.0.1", 8080)
    assert not permits(policy, "127.0.0.1", "127.0.0.1", 8081)
    assert permits(policy, "::1", "::1", 9000) and not permits(policy, "::1", "::1", 9001)
    assert permits(policy, "a", "10.2.3.4", 443) and not permits(policy, "a", "10.2.3.4", 80)


def test_star_allows_everything() -> None:
    policy = parse_allow_list("*")
    assert policy.allow_all and permits(policy, "lo", "127.0.0.1", 1)
    assert parse_allow_list("") == EgressPolicy() == parse_allow_list(" , ")


def test_bad_entries_are_all_named() -> None:
    with pytest.raises(ValueError) as caught:
        parse_allow_list("10.0.0.0/33, http://x, localhost:99999, *.corp, ok.example, [::1")
    message = str(caught.value)
    for bad in ("'10.0.0.0/33'", "'http://x'", "'localhost:99999'", "'*.corp'", "'[::1'"):
        assert bad in message
    assert "ok.example" not in message


def test_the_setting_is_checked_at_start(tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(data_dir=tmp_path, http_allow="10.0.0.1, not a host")
    assert "'not a host'" in str(caught.value)
    assert Settings(data_dir=tmp_path, http_allow="10.0.0.0/8,intranet:8080").http_allow


def test_the_operators_llm_endpoint_is_opened_and_nothing_else(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, llm_base_url="http://localhost:11434/v1")
    policy = egress_policy(settings)
    assert permits(policy, "localhost", "127.0.0.1", 11434)
    assert not permits(policy, "localhost", "127.0.0.1", 8700)
    assert not permits(policy, "127.0.0.1", "127.0.0.1", 11434)
    by_address = egress_policy(Settings(data_dir=tmp_path, llm_base_url="https://10.1.2.3/v1"))
    assert permits(by_address, "10.1.2.3", "10.1.2.3", 443)
    assert not permits(by_address, "10.1.2.3", "10.1.2.3", 80)
    assert egress_policy(Settings(data_dir=tmp_path)) == EgressPolicy()
