//! Prompts drawn the way Inquirer.js draws them, as the Lua CLI's documentation
//! shows: `? This will display your API key. Are you sure you want to continue? Yes`.

use dialoguer::theme::Theme;
use std::fmt;

pub struct Inquirer;

impl Theme for Inquirer {
    fn format_prompt(&self, f: &mut dyn fmt::Write, prompt: &str) -> fmt::Result {
        write!(f, "? {prompt}")
    }

    fn format_confirm_prompt(
        &self,
        f: &mut dyn fmt::Write,
        prompt: &str,
        default: Option<bool>,
    ) -> fmt::Result {
        let choices = match default {
            Some(true) => "(Y/n)",
            Some(false) => "(y/N)",
            None => "(y/n)",
        };
        write!(f, "? {prompt} {choices} ")
    }

    fn format_confirm_prompt_selection(
        &self,
        f: &mut dyn fmt::Write,
        prompt: &str,
        selection: Option<bool>,
    ) -> fmt::Result {
        match selection {
            Some(true) => write!(f, "? {prompt} Yes"),
            Some(false) => write!(f, "? {prompt} No"),
            None => write!(f, "? {prompt}"),
        }
    }

    fn format_input_prompt(
        &self,
        f: &mut dyn fmt::Write,
        prompt: &str,
        _default: Option<&str>,
    ) -> fmt::Result {
        write!(f, "? {prompt} ")
    }

    fn format_input_prompt_selection(
        &self,
        f: &mut dyn fmt::Write,
        prompt: &str,
        sel: &str,
    ) -> fmt::Result {
        write!(f, "? {prompt} {sel}")
    }

    fn format_password_prompt(&self, f: &mut dyn fmt::Write, prompt: &str) -> fmt::Result {
        write!(f, "? {prompt} ")
    }

    fn format_password_prompt_selection(
        &self,
        f: &mut dyn fmt::Write,
        prompt: &str,
    ) -> fmt::Result {
        write!(f, "? {prompt} [hidden]")
    }

    fn format_select_prompt_item(
        &self,
        f: &mut dyn fmt::Write,
        text: &str,
        active: bool,
    ) -> fmt::Result {
        write!(f, "{} {text}", if active { "❯" } else { " " })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confirm_reads_like_inquirer() {
        let mut out = String::new();
        Inquirer
            .format_confirm_prompt_selection(&mut out, "Sure?", Some(true))
            .unwrap();
        assert_eq!(out, "? Sure? Yes");
    }
}
