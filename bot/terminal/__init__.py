"""The terminal front end: `storyloom local`, its command parser and member commands."""
