//! Outbound NAT and published ports, as rules in tincan's own nftables table.
//!
//! Containers on a bridge have private addresses (10.89.0.x) that nothing outside
//! the host knows how to answer. Two kinds of address translation fix that:
//!
//! - **Masquerade** (outbound): a packet from the subnet leaving through any other
//!   interface gets the host's address as its source; replies are translated back.
//!   The host must also *forward* packets between interfaces (`ip_forward`).
//! - **DNAT** (published ports, `-p 8080:80`): a packet to the host's port 8080 gets
//!   the container's address and port 80 as its destination. Packets the host sends
//!   to itself (to `127.0.0.1:8080`) pass the `output` hook, not `prerouting`, so
//!   both get a rule. Such a packet keeps its source `127.0.0.1`; the kernel only
//!   routes a loopback source out of a real interface when the interface allows it
//!   (`route_localnet`, set on our bridge only), and we masquerade it so that the
//!   container's reply can come back. Docker does the same without its userland
//!   proxy.
//!
//! All rules live in the table `ip tincan`, tagged with a comment naming the bridge
//! or container they belong to, and are removed with them:
//!
//! ```text
//! nft add table ip tincan
//! nft add chain ip tincan postrouting '{ type nat hook postrouting priority srcnat; }'
//! nft add rule ip tincan postrouting ip saddr 10.89.0.0/24 oifname != tincan0 masquerade
//! nft add rule ip tincan postrouting ip saddr 127.0.0.0/8 oifname tincan0 masquerade
//! nft add chain ip tincan output '{ type nat hook output priority dstnat; }'
//! nft add rule ip tincan output ip daddr 127.0.0.0/8 tcp dport 8080 dnat to 10.89.0.2:80
//! nft add chain ip tincan prerouting '{ type nat hook prerouting priority dstnat; }'
//! nft add rule ip tincan prerouting fib daddr type local tcp dport 8080 dnat to 10.89.0.2:80
//! ```
//!
//! We build these with the `nftables` crate, which hands them to `nft` in its JSON
//! form (`man libnftables-json`).

use std::borrow::Cow;
use std::collections::HashSet;
use std::net::Ipv4Addr;

use ch00_process::StepError;
use ipnet::Ipv4Net;
use nftables::batch::Batch;
use nftables::expr::{
    Expression, Fib, FibFlag, FibResult, Meta, MetaKey, NamedExpression, Payload, PayloadField,
    Prefix,
};
use nftables::helper::{self, NftablesError};
use nftables::schema::{Chain, NfListObject, NfObject, Rule, Table};
use nftables::stmt::{Match, NAT, NATFamily, Operator, Statement};
use nftables::types::{NfChainType, NfFamily, NfHook};
use nix::errno::Errno;

use crate::ports::{PortMapping, Protocol};

const TABLE: &str = "tincan";

/// The rules a bridge needs: masquerade its subnet, and loopback-sourced packets
/// entering it (for ports published on 127.0.0.1).
pub fn add_bridge(bridge: &str, subnet: Ipv4Net) -> Result<(), StepError> {
    let comment = format!("bridge {bridge}");
    let mut batch = base();
    let postrouting = [
        vec![
            matches(field("ip", "saddr"), Operator::EQ, prefix(subnet)),
            matches(oifname(), Operator::NEQ, text(bridge)),
        ],
        vec![
            matches(field("ip", "saddr"), Operator::EQ, prefix(loopback())),
            matches(oifname(), Operator::EQ, text(bridge)),
        ],
    ];
    for mut expr in postrouting {
        expr.push(Statement::Masquerade(None));
        batch.add(NfListObject::Rule(rule("postrouting", expr, &comment)));
    }
    apply(batch, "add the bridge's NAT rules")
}

/// DNAT rules for the ports a container publishes.
pub fn add_ports(
    container: &str,
    address: Ipv4Addr,
    ports: &[PortMapping],
) -> Result<(), StepError> {
    let comment = format!("container {container}");
    let mut batch = base();
    for port in ports {
        let proto = match port.protocol {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        };
        let dport =
            matches(field(proto, "dport"), Operator::EQ, Expression::Number(port.host.into()));
        let dnat = Statement::DNAT(Some(NAT {
            addr: Some(text(&address.to_string())),
            family: Some(NATFamily::IP),
            port: Some(Expression::Number(port.container.into())),
            flags: None,
        }));
        let to_loopback = matches(field("ip", "daddr"), Operator::EQ, prefix(loopback()));
        batch.add(NfListObject::Rule(rule(
            "output",
            vec![to_loopback, dport.clone(), dnat.clone()],
            &comment,
        )));
        let fib = Fib { result: FibResult::Type, flags: HashSet::from([FibFlag::Daddr]) };
        let to_this_host =
            matches(Expression::Named(NamedExpression::Fib(fib)), Operator::EQ, text("local"));
        batch.add(NfListObject::Rule(rule(
            "prerouting",
            vec![to_this_host, dport, dnat],
            &comment,
        )));
    }
    apply(batch, "add the container's published ports")
}

/// Remove the rules tagged for a bridge or container (`owner` as passed to the
/// functions above); remove the table when it has no rules left.
pub fn remove(owner: &str) -> Result<(), StepError> {
    let ruleset = helper::get_current_ruleset().map_err(|e| failed("list nftables rules", &e))?;
    let ours: Vec<Rule> = ruleset
        .objects
        .iter()
        .filter_map(|o| match o {
            NfObject::ListObject(NfListObject::Rule(r)) if r.table == TABLE => Some(r.clone()),
            _ => None,
        })
        .collect();
    let (theirs, others): (Vec<Rule>, Vec<Rule>) =
        ours.into_iter().partition(|r| r.comment.as_deref() == Some(owner));
    if theirs.is_empty() {
        return Ok(());
    }
    let mut batch = Batch::new();
    if others.is_empty() {
        batch.delete(NfListObject::Table(Table {
            family: NfFamily::IP,
            name: TABLE.into(),
            ..Table::default()
        }));
    } else {
        for rule in theirs {
            batch.delete(NfListObject::Rule(rule));
        }
    }
    apply(batch, "remove nftables rules")
}

/// The table and its three NAT chains; `add` does nothing to ones that exist.
fn base() -> Batch<'static> {
    let mut batch = Batch::new();
    batch.add(NfListObject::Table(Table {
        family: NfFamily::IP,
        name: TABLE.into(),
        ..Table::default()
    }));
    for (name, hook, prio) in [
        ("postrouting", NfHook::Postrouting, 100),
        ("output", NfHook::Output, -100),
        ("prerouting", NfHook::Prerouting, -100),
    ] {
        batch.add(NfListObject::Chain(Chain {
            family: NfFamily::IP,
            table: TABLE.into(),
            name: name.into(),
            _type: Some(NfChainType::NAT),
            hook: Some(hook),
            prio: Some(prio),
            ..Chain::default()
        }));
    }
    batch
}

fn rule<'a>(chain: &'static str, expr: Vec<Statement<'a>>, comment: &str) -> Rule<'a> {
    Rule {
        family: NfFamily::IP,
        table: TABLE.into(),
        chain: chain.into(),
        expr: Cow::Owned(expr),
        comment: Some(comment.to_owned().into()),
        ..Rule::default()
    }
}

fn field(protocol: &'static str, field: &'static str) -> Expression<'static> {
    let field = PayloadField { protocol: protocol.into(), field: field.into() };
    Expression::Named(NamedExpression::Payload(Payload::PayloadField(field)))
}

fn oifname() -> Expression<'static> {
    Expression::Named(NamedExpression::Meta(Meta { key: MetaKey::Oifname }))
}

fn prefix(net: Ipv4Net) -> Expression<'static> {
    let addr = Box::new(text(&net.network().to_string()));
    Expression::Named(NamedExpression::Prefix(Prefix { addr, len: net.prefix_len().into() }))
}

fn text(s: &str) -> Expression<'static> {
    Expression::String(s.to_owned().into())
}

fn loopback() -> Ipv4Net {
    Ipv4Net::new(Ipv4Addr::LOCALHOST, 8).expect("a valid prefix").trunc()
}

fn matches<'a>(left: Expression<'a>, op: Operator, right: Expression<'a>) -> Statement<'a> {
    Statement::Match(Match { left, right, op })
}

fn apply(batch: Batch, what: &str) -> Result<(), StepError> {
    helper::apply_ruleset(&batch.to_nftables()).map_err(|e| failed(what, &e))
}

/// nft reports failures as text; a missing `nft` is the failure a user can fix.
fn failed(what: &str, error: &NftablesError) -> StepError {
    let hint = match error {
        NftablesError::NftExecution { .. } => {
            "is nftables installed? (apt-get install nftables)".to_owned()
        }
        NftablesError::NftFailed { stderr, .. } => format!("nft: {}", stderr.trim()),
        other => other.to_string(),
    };
    StepError::new(what, Errno::EIO).hint(hint)
}
