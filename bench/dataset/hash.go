package dataset

// Every random decision is a hash of the seed, a tag naming the decision and the
// coordinates of the object it is about. The tags are fixed constants: changing one
// changes the dataset, so Version must change with it.
const (
	tagUsers uint64 = iota + 1
	tagProjects
	tagDocs
	tagRegistered
	tagPartnerBrand
	tagRole
	tagRoleExpiry
	tagSecond
	tagGroup
	tagGroupExpiry
	tagSuspended
	tagGrant
	tagGrantExpiry
	tagBlocked
	tagPartner
	tagPartnerCaveat
	tagGroupOwner
	tagGroupGrant
	tagClientIP
	tagQuery
)

// mix is the splitmix64 finaliser: a bijection on uint64 with good avalanche.
func mix(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// hash combines the seed, a tag and coordinates into one 64-bit value.
func hash(seed, tag uint64, coords ...int) uint64 {
	h := mix(seed ^ (tag * 0x632be59bd9b4e019))
	for _, c := range coords {
		h = mix(h ^ uint64(int64(c)))
	}
	return h
}

// unit maps a hash to [0, 1).
func unit(h uint64) float64 { return float64(h>>11) / (1 << 53) }

// below reports whether a hash falls under probability p.
func below(h uint64, p float64) bool { return unit(h) < p }

// pick maps a hash to [0, n); n must be positive.
func pick(h uint64, n int) int { return int(h % uint64(n)) }

// sub derives an independent hash from h for a second decision about the same object.
func sub(h uint64, i int) uint64 { return mix(h + uint64(i)*0x9e3779b97f4a7c15) }
