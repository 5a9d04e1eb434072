//! Building nftables rules with the `nftables` crate, which hands them to `nft`
//! in its JSON form (`man libnftables-json`), and taking them down by tag.
//!
//! Every rule tincan adds carries a comment that names what it belongs to
//! ("tincan bridge tincan0", "tincan container 3f2a..."), so that exactly those
//! rules can be removed later, by the runtime or by `chNN cleanup`, and a
//! person reading `nft list ruleset` sees whose they are.

use std::borrow::Cow;

use ch00_process::StepError;
use ipnet::Ipv4Net;
use nftables::batch::Batch;
use nftables::expr::{Expression, Meta, MetaKey, NamedExpression, Payload, PayloadField, Prefix};
use nftables::helper::{self, NftablesError};
use nftables::schema::{Chain, NfListObject, NfObject, Nftables, Rule, Table};
use nftables::stmt::{Match, Operator, Statement};
use nftables::types::NfFamily;
use nix::errno::Errno;

/// tincan's own table: `ip tincan`.
pub const TABLE: &str = "tincan";

pub fn rule<'a>(chain: &Chain<'a>, expr: Vec<Statement<'a>>, tag: &str) -> Rule<'a> {
    Rule {
        family: chain.family,
        table: chain.table.clone(),
        chain: chain.name.clone(),
        expr: Cow::Owned(expr),
        comment: Some(tag.to_owned().into()),
        ..Rule::default()
    }
}

pub fn field(protocol: &'static str, field: &'static str) -> Expression<'static> {
    let field = PayloadField { protocol: protocol.into(), field: field.into() };
    Expression::Named(NamedExpression::Payload(Payload::PayloadField(field)))
}

pub fn meta(key: MetaKey) -> Expression<'static> {
    Expression::Named(NamedExpression::Meta(Meta { key }))
}

pub fn prefix(net: Ipv4Net) -> Expression<'static> {
    let addr = Box::new(text(&net.network().to_string()));
    Expression::Named(NamedExpression::Prefix(Prefix { addr, len: net.prefix_len().into() }))
}

pub fn text(s: &str) -> Expression<'static> {
    Expression::String(s.to_owned().into())
}

pub fn matches<'a>(left: Expression<'a>, op: Operator, right: Expression<'a>) -> Statement<'a> {
    Statement::Match(Match { left, right, op })
}

/// The host's whole ruleset, as `nft -j list ruleset` prints it.
pub fn ruleset() -> Result<Nftables<'static>, StepError> {
    helper::get_current_ruleset().map_err(|e| failed("list nftables rules", &e))
}

pub fn apply(batch: Batch, what: &str) -> Result<(), StepError> {
    helper::apply_ruleset(&batch.to_nftables()).map_err(|e| failed(what, &e))
}

/// The tags of the rules in tincan's table (none without `nft`: then no
/// rule of ours can have been added).
pub fn our_tags() -> Result<Vec<String>, StepError> {
    let ruleset = match helper::get_current_ruleset() {
        Ok(ruleset) => ruleset,
        Err(NftablesError::NftExecution { .. }) => return Ok(Vec::new()),
        Err(e) => return Err(failed("list nftables rules", &e)),
    };
    let tags = ruleset.objects.iter().filter_map(|object| match object {
        NfObject::ListObject(NfListObject::Rule(r))
            if r.family == NfFamily::IP && r.table == TABLE =>
        {
            r.comment.as_deref().map(str::to_owned)
        }
        _ => None,
    });
    Ok(tags.collect())
}

/// Remove every rule tagged `tag`, in any table; remove tincan's own table when
/// no rule is left in it.
pub fn remove_tagged(tag: &str) -> Result<(), StepError> {
    let ruleset = match helper::get_current_ruleset() {
        Ok(ruleset) => ruleset,
        // Without `nft`, no rule of ours can have been added.
        Err(NftablesError::NftExecution { .. }) => return Ok(()),
        Err(e) => return Err(failed("list nftables rules", &e)),
    };
    let rules: Vec<&Rule> = ruleset
        .objects
        .iter()
        .filter_map(|o| match o {
            NfObject::ListObject(NfListObject::Rule(r)) => Some(r),
            _ => None,
        })
        .collect();
    let (tagged, others): (Vec<&Rule>, Vec<&Rule>) =
        rules.into_iter().partition(|r| r.comment.as_deref() == Some(tag));
    if tagged.is_empty() {
        return Ok(());
    }
    let ours_left = others.iter().any(|r| r.family == NfFamily::IP && r.table == TABLE);
    let mut batch = Batch::new();
    for rule in tagged {
        if ours_left || rule.family != NfFamily::IP || rule.table != TABLE {
            batch.delete(NfListObject::Rule(rule.clone()));
        }
    }
    if !ours_left && ruleset.objects.iter().any(|o| is_our_table(o)) {
        batch.delete(NfListObject::Table(our_table()));
    }
    apply(batch, "remove nftables rules")
}

pub fn our_table() -> Table<'static> {
    Table { family: NfFamily::IP, name: TABLE.into(), ..Table::default() }
}

fn is_our_table(object: &NfObject) -> bool {
    matches!(object, NfObject::ListObject(NfListObject::Table(t)) if t.family == NfFamily::IP && t.name == TABLE)
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
