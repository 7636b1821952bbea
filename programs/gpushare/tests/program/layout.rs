//! Account sizes, as documented in docs/program.md (rent is paid on these).
use anchor_lang::Space;
use gpushare::state::*;

#[test]
fn account_sizes_match_the_documentation() {
    assert_eq!(8 + Network::INIT_SPACE, 337);
    assert_eq!(8 + Provider::INIT_SPACE, 571);
    assert_eq!(8 + Delegation::INIT_SPACE, 169);
    assert_eq!(8 + Benchmark::INIT_SPACE, 768);
    assert_eq!(Job::space(1), 609);
    assert_eq!(Job::space(64), 616);
    assert_eq!(Job::space(gpushare::constants::MAX_SHARDS_LIMIT), 1120);
    assert_eq!(8 + Shard::INIT_SPACE, 662);
    assert_eq!(8 + Assignment::INIT_SPACE, 404);
    assert_eq!(ProofBuffer::space(0), 78);
}
