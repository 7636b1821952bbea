//! Account sizes, as documented in docs/program.md (rent is paid on these).
use anchor_lang::Space;
use gpushare::state::*;

#[test]
fn account_sizes_match_the_documentation() {
    assert_eq!(8 + Network::INIT_SPACE, 155);
    assert_eq!(8 + Provider::INIT_SPACE, 326);
    assert_eq!(Job::space(1), 428);
    assert_eq!(Job::space(64), 435);
    assert_eq!(Job::space(gpushare::constants::MAX_SHARDS_LIMIT), 939);
    assert_eq!(8 + Shard::INIT_SPACE, 1_164);
    assert_eq!(8 + Assignment::INIT_SPACE, 271);
}
