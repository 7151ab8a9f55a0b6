// Package dataset generates deterministic B2B customer-identity datasets for the
// reference schema (schema/b2b-ciam/schema.zed) and answers, from its own model, every
// question the load generator asks about them.
//
// Nothing is stored: every relationship is derived from the seed and the parameters by
// formulas (implicit organisation trees addressed by level and index) and hashes (which
// user holds which role, which group grants what). The same (seed, parameters, Version)
// always yields the same relationships in the same order, so a dataset of 10M
// relationships streams in constant memory and the oracle can recompute any part of it.
//
// The shape of one dataset:
//
//   - a forest of customer organisation trees: FanOut children per organisation, Depth
//     levels below the root, at most Width organisations per level; plus Chains trees
//     that are single chains ChainDepth deep (the deepest parent paths);
//   - the root of every tree signed up through one brand; users of a tree are that
//     brand's customers (a few never registered, so portal rules deny them), and some
//     also registered with the brand of the tree their organisation partners with;
//   - every organisation has users whose home it is: members, admins (some expiring,
//     some already expired), billing and app managers; some users are also members of
//     an ancestor, some are suspended at their home or above it;
//   - groups nest in small trees (GroupFanOut, GroupDepth) owned by organisations; they
//     are granted organisation roles and project or document access;
//   - projects owned by organisations hold documents; users get direct viewer or editor
//     grants, some are blocked from a project, and organisations of the next tree are
//     partners of projects (half of them under the within_network caveat).
//
// The oracle (Oracle) evaluates the schema's permissions for one user by first building
// that user's profile (every organisation role, group and grant the user holds, all of
// which the formulas derive from the user's id) and then applying the permission rules
// to the resource. It is a second, independent implementation of the reference schema's
// semantics, specialised to these datasets, and is checked against the engine in tests.
package dataset
