// Package category is the aggregate of a transfer category (guide §13): a code such as "01" (its name) and
// what it means (its description), shared by every bank. One stream per category: Stream(guid). A name is
// unique among live categories through NameStream and package uniqueness; a delete is soft and final.
// Standard lists the guide's categories with GUIDs derived from their codes, so every node seeds the same
// streams. It never does I/O or reads a clock: time comes in the commands.
package category
