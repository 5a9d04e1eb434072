//! Outbound NAT and published ports, as rules in tincan's own nftables table.
//!
//! Containers on a bridge have private addresses (10.89.0.x) that nothing outside
//! the host knows how to answer. Two kinds of address translation fix that:
//!
//! - **Masquerade** (source NAT, outbound): a packet from the subnet leaving
//!   through another interface gets the host's address as its *source*; the
//!   replies, addressed to the host, are translated back to the container. The
//!   host must also *forward* packets between interfaces (`forwarding.rs`).
//! - **DNAT** (destination NAT, published ports, `-p 8080:80`): a packet that
//!   arrives for one of the host's own addresses, port 8080, gets the
//!   container's address and port 80 as its *destination*, before the host
//!   decides where it goes; so it is routed to the bridge. Packets from other
//!   machines pass the `prerouting` hook; packets the host sends to itself (to
//!   `127.0.0.1:8080`, or to its own `192.168.1.5:8080`) pass `output` instead,
//!   so both hooks get the rule, for every address the host has (`fib daddr type
//!   local`). A packet to `127.0.0.1` keeps its source `127.0.0.1`, which the
//!   kernel only lets out of an interface that allows it (`route_localnet`, set
//!   on our bridge only) and which the container could not answer: we masquerade
//!   it too. Docker does the same without its userland proxy.
//!
//! All rules live in the table `ip tincan`, tagged with their owner (`nft.rs`):
//!
//! ```text
//! nft add table ip tincan
//! nft add chain ip tincan postrouting '{ type nat hook postrouting priority srcnat; }'
//! nft add rule ip tincan postrouting ip saddr 10.89.0.0/24 oifname != tincan0 masquerade
//! nft add rule ip tincan postrouting ip saddr 127.0.0.0/8 oifname tincan0 masquerade
//! nft add chain ip tincan output '{ type nat hook output priority dstnat; }'
//! nft add rule ip tincan output fib daddr type local tcp dport 8080 dnat to 10.89.0.2:80
//! nft add chain ip tincan prerouting '{ type nat hook prerouting priority dstnat; }'
//! nft add rule ip tincan prerouting fib daddr type local tcp dport 8080 dnat to 10.89.0.2:80
//! ```
//!
//! `route_localnet` has a price: the host would now also accept packets that
//! arrive *from* the bridge addressed to 127.0.0.1 — a container that routes
//! 127.0.0.1 through its gateway would reach the host's loopback services, the
//! very thing its network namespace hides (Kubernetes' CVE-2020-8558). So those
//! are dropped as they enter, before anything else looks at them:
//!
//! ```text
//! nft add chain ip tincan raw '{ type filter hook prerouting priority raw; }'
//! nft add rule ip tincan raw iifname tincan0 ip daddr 127.0.0.0/8 drop
//! ```
//!
//! And a container reaching a port another container on its bridge publishes,
//! at the host's address, gets its source translated too: otherwise the answer
//! would come straight from the other container, which the first one never
//! asked (`ct status dnat ... masquerade` below).
//!
//! Two bridges are two networks: a container on one must not open a
//! connection to a container on another, though both are routes of the same
//! host (Docker's "isolation" rules do the same). Nor may a machine outside,
//! which routes 10.89.0.0/24 to this host, reach a container's ports that
//! were never published. So, into the bridge, only replies, published ports
//! and the bridge's own traffic (which never enters from another interface,
//! even where `br_netfilter` sends bridged packets through `forward`):
//!
//! ```text
//! nft add chain ip tincan forward '{ type filter hook forward priority filter; }'
//! nft add rule ip tincan forward oifname tincan0 ct status dnat accept
//! nft add rule ip tincan forward oifname tincan0 ct state established,related accept
//! nft add rule ip tincan forward oifname tincan0 iifname != tincan0 drop
//! ```
//!
//! One more thing: a host whose *forwarding* policy is "drop" (Docker's and ufw's
//! hosts set it) drops the containers' packets, whatever our table says, because
//! a packet must pass every table's chain on a hook. There the bridge's traffic
//! is let through in *that* chain, and the rules go with the bridge:
//!
//! ```text
//! nft insert rule ip filter FORWARD iifname tincan0 accept
//! nft insert rule ip filter FORWARD oifname tincan0 ct state established,related accept
//! nft insert rule ip filter FORWARD oifname tincan0 ct status dnat accept
//! ```

use std::collections::HashSet;
use std::net::Ipv4Addr;

use ch00_process::StepError;
use ipnet::Ipv4Net;
use nftables::batch::Batch;
use nftables::expr::{CT, Expression, Fib, FibFlag, FibResult, MetaKey, NamedExpression};
use nftables::schema::{Chain, NfCmd, NfListObject, NfObject};
use nftables::stmt::{NAT, NATFamily, Operator, Statement};
use nftables::types::{NfChainPolicy, NfChainType, NfFamily, NfHook};

use crate::nft::{self, TABLE, field, matches, meta, prefix, rule, text};
use crate::ports::PortMapping;

/// How the tag of every bridge's rules begins.
const BRIDGE_TAG: &str = "tincan bridge ";

/// The tag of a bridge's rules.
pub fn bridge_tag(bridge: &str) -> String {
    format!("{BRIDGE_TAG}{bridge}")
}

/// Among the tags of tincan's rules (`nft::our_tags`), is there a bridge's —
/// of any tincan on this host, whatever state directory its runtime keeps?
pub fn any_bridge(tags: &[String]) -> bool {
    tags.iter().any(|tag| tag.starts_with(BRIDGE_TAG))
}

/// A mark in tincan's table: a rule tagged `tag` in the chain `marks`, which
/// no packet ever enters (no hook). The table is the host's, so every
/// runtime sees the mark, whatever its state directory.
pub fn add_mark(tag: &str) -> Result<(), StepError> {
    let mut batch = Batch::new();
    batch.add(NfListObject::Table(nft::our_table()));
    let marks = our_chain("marks");
    batch.add(NfListObject::Chain(marks.clone()));
    let count = Statement::Counter(nftables::stmt::Counter::Anonymous(None));
    batch.add(NfListObject::Rule(rule(&marks, vec![count], tag)));
    nft::apply(batch, &format!("mark \"{tag}\""))
}

/// The tag of a container's rules.
pub fn container_tag(id: &str) -> String {
    format!("tincan container {id}")
}

/// The rules a bridge needs: masquerade its subnet, loopback-sourced packets
/// entering it and its containers' own published-port traffic; drop what comes
/// from it for the host's loopback; let its traffic through forward chains that
/// drop.
pub fn add_bridge(bridge: &str, subnet: Ipv4Net) -> Result<(), StepError> {
    let tag = bridge_tag(bridge);
    let mut batch = base();
    let postrouting = our_chain("postrouting");
    let rules = [
        (subnet, Operator::NEQ, None),
        (loopback(), Operator::EQ, None),
        (subnet, Operator::EQ, Some(matches(ct("status"), Operator::IN, text("dnat")))),
    ];
    for (source, out, also) in rules {
        let mut expr = vec![
            matches(field("ip", "saddr"), Operator::EQ, prefix(source)),
            matches(meta(MetaKey::Oifname), out, text(bridge)),
        ];
        expr.extend(also);
        expr.push(Statement::Masquerade(None));
        batch.add(NfListObject::Rule(rule(&postrouting, expr, &tag)));
    }
    let to_loopback = vec![
        matches(meta(MetaKey::Iifname), Operator::EQ, text(bridge)),
        matches(field("ip", "daddr"), Operator::EQ, prefix(loopback())),
        Statement::Drop(None),
    ];
    batch.add(NfListObject::Rule(rule(&our_chain("raw"), to_loopback, &tag)));
    for expr in isolation(bridge) {
        batch.add(NfListObject::Rule(rule(&our_chain("forward"), expr, &tag)));
    }
    for chain in dropping_forward_chains()? {
        for expr in forward_accepts(bridge) {
            batch.add_cmd(NfCmd::Insert(NfListObject::Rule(rule(&chain, expr, &tag))));
        }
    }
    nft::apply(batch, "add the bridge's NAT rules")
}

/// DNAT rules for the ports a container publishes.
pub fn add_ports(id: &str, address: Ipv4Addr, ports: &[PortMapping]) -> Result<(), StepError> {
    let tag = container_tag(id);
    let mut batch = base();
    for port in ports {
        let dport = field(port.protocol.name(), "dport");
        let dport = matches(dport, Operator::EQ, Expression::Number(port.host.into()));
        let dnat = Statement::DNAT(Some(NAT {
            addr: Some(text(&address.to_string())),
            family: Some(NATFamily::IP),
            port: Some(Expression::Number(port.container.into())),
            flags: None,
        }));
        // To the address given, or to any of this host's.
        let to_this_host = match port.address {
            Some(address) => {
                matches(field("ip", "daddr"), Operator::EQ, text(&address.to_string()))
            }
            None => {
                let fib = Fib { result: FibResult::Type, flags: HashSet::from([FibFlag::Daddr]) };
                matches(Expression::Named(NamedExpression::Fib(fib)), Operator::EQ, text("local"))
            }
        };
        for chain in ["output", "prerouting"] {
            let expr = vec![to_this_host.clone(), dport.clone(), dnat.clone()];
            batch.add(NfListObject::Rule(rule(&our_chain(chain), expr, &tag)));
        }
    }
    nft::apply(batch, "add the container's published ports")
}

/// The table, its three NAT chains and its early filter; `add` does nothing to
/// ones that exist.
fn base() -> Batch<'static> {
    let mut batch = Batch::new();
    batch.add(NfListObject::Table(nft::our_table()));
    for (name, kind, hook, prio) in [
        ("raw", NfChainType::Filter, NfHook::Prerouting, -300),
        ("forward", NfChainType::Filter, NfHook::Forward, 0),
        ("postrouting", NfChainType::NAT, NfHook::Postrouting, 100),
        ("output", NfChainType::NAT, NfHook::Output, -100),
        ("prerouting", NfChainType::NAT, NfHook::Prerouting, -100),
    ] {
        batch.add(NfListObject::Chain(Chain {
            _type: Some(kind),
            hook: Some(hook),
            prio: Some(prio),
            ..our_chain(name)
        }));
    }
    batch
}

fn our_chain(name: &'static str) -> Chain<'static> {
    Chain { family: NfFamily::IP, table: TABLE.into(), name: name.into(), ..Chain::default() }
}

/// The chains of other tables that drop forwarded packets by default, as
/// "TABLE CHAIN" (what `tincan doctor` reports).
pub fn forward_droppers() -> Result<Vec<String>, StepError> {
    let chains = dropping_forward_chains()?;
    Ok(chains.iter().map(|c| format!("{} {}", c.table, c.name)).collect())
}

/// Base chains of other tables on the forward hook whose policy is drop.
fn dropping_forward_chains() -> Result<Vec<Chain<'static>>, StepError> {
    let ruleset = nft::ruleset()?;
    Ok(ruleset
        .objects
        .iter()
        .filter_map(|o| match o {
            NfObject::ListObject(NfListObject::Chain(c))
                if c.hook == Some(NfHook::Forward)
                    && c.policy == Some(NfChainPolicy::Drop)
                    && matches!(c.family, NfFamily::IP | NfFamily::INet) =>
            {
                Some(Chain {
                    family: c.family,
                    table: c.table.clone().into_owned().into(),
                    name: c.name.clone().into_owned().into(),
                    ..Chain::default()
                })
            }
            _ => None,
        })
        .collect())
}

/// A conntrack key: `ct state`, `ct status`.
fn ct(key: &'static str) -> Expression<'static> {
    Expression::Named(NamedExpression::CT(CT { key: key.into(), family: None, dir: None }))
}

/// Into the bridge from elsewhere pass only published ports (DNAT) and
/// replies: not a connection from another bridge (another network's
/// containers), nor one routed from another machine straight to a
/// container's address — nor a packet conntrack calls invalid or does not
/// track, which a rule for new connections alone would let through. The
/// host itself reaches its containers through `output`, not `forward`.
fn isolation(bridge: &str) -> [Vec<Statement<'static>>; 3] {
    let into = || matches(meta(MetaKey::Oifname), Operator::EQ, text(bridge));
    let replies = Expression::List(vec![text("established"), text("related")]);
    [
        vec![into(), matches(ct("status"), Operator::IN, text("dnat")), Statement::Accept(None)],
        vec![into(), matches(ct("state"), Operator::IN, replies), Statement::Accept(None)],
        vec![
            into(),
            matches(meta(MetaKey::Iifname), Operator::NEQ, text(bridge)),
            Statement::Drop(None),
        ],
    ]
}

/// Out of the bridge: anything. Into it: replies, and published ports (DNAT).
fn forward_accepts(bridge: &str) -> [Vec<Statement<'static>>; 3] {
    let replies = Expression::List(vec![text("established"), text("related")]);
    let accept = Statement::Accept(None);
    [
        vec![matches(meta(MetaKey::Iifname), Operator::EQ, text(bridge)), accept.clone()],
        vec![
            matches(meta(MetaKey::Oifname), Operator::EQ, text(bridge)),
            matches(ct("state"), Operator::IN, replies),
            accept.clone(),
        ],
        vec![
            matches(meta(MetaKey::Oifname), Operator::EQ, text(bridge)),
            matches(ct("status"), Operator::IN, text("dnat")),
            accept,
        ],
    ]
}

fn loopback() -> Ipv4Net {
    Ipv4Net::new(Ipv4Addr::LOCALHOST, 8).expect("a valid prefix").trunc()
}
