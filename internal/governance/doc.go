// Package governance answers the questions an auditor and an access reviewer ask of
// Pemba's data: which of an actor's grants are still in force, what a subject can
// reach inside an organisation and along which path, and who wrote each relationship
// a check relied on.
package governance
