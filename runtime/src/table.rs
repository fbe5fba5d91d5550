//! Aligned text tables (the snapshot's and the diagnosis's `Display`): a
//! first column of function names, as wide as the widest, then fixed-width
//! columns.

/// The header of the first column.
pub(crate) const FIRST: &str = "function";

/// The width of the first column: the widest name, or the header.
pub(crate) fn first_column_width<'a>(names: impl IntoIterator<Item = &'a str>) -> usize {
    names
        .into_iter()
        .map(|n| n.chars().count())
        .max()
        .unwrap_or(0)
        .max(FIRST.len())
}
