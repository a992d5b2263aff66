// placeholder: implemented later
