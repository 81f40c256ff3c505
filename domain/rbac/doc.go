// Package rbac is the aggregate of a bank's roles: which roles exist (endpoint roles, and branch-access roles
// bound to one branch), which permissions each holds, and which employees are members. One stream per
// counterparty: Stream(counterpartyGUID). The permission catalogue is data the caller passes in (a func), so
// this package never imports api; it never does I/O or reads a clock.
// It is the authority for who holds which role; the employee aggregate's roles are the request that the app
// layer applies here with AddMember/RemoveMember.
package rbac
