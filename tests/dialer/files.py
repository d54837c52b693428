"""Real-world call-list files built in the tests: Excel-French CSV, UTF-8 with BOM, XLSX, broken files."""

from __future__ import annotations

from pathlib import Path

import openpyxl

FRENCH_HEADER = "Civilité;Nom;Prénom;Société;Portable;Fixe;Ville;Consentement;Remarque"
FRENCH_ROWS = [
    "Mme;Lefèvre;Hélène;Boulangerie Saint-Éloi;06 12 34 56 78;01 42 68 53 00;Paris;oui;cliente fidèle",
    "M.;Benali;Karim;Garage de l'Étoile;+33 (0)6 98 76 54 32;;Lyon;oui;",
    "Mme;Martin;Chloé;;07.81.22.33.44;;Nantes;oui;préfère le matin",
    "M.;Haddad;Mehdi;Café Niçois;0493 87 65 43;;Nice;non;",
]


def write(path: Path, text: str, encoding: str) -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def french_csv(tmp: Path, rows: list[str] | None = None, name: str = "liste.csv") -> Path:
    """What Excel writes in France: cp1252, `;`, CRLF, numbers formatted by people."""
    body = "\r\n".join([FRENCH_HEADER, *(FRENCH_ROWS if rows is None else rows)]) + "\r\n"
    return write(tmp / name, body, "cp1252")


def bom_csv(tmp: Path) -> Path:
    body = (
        "external id,first name,last name,phone,time zone,consent\n"
        "A-1,Zoë,O'Brien,+44 20 7946 0000,,yes\n"
        "A-2,José,Núñez,+1 212 555 1234,America/New_York,yes\n"
        'A-3,"Amélie, Jr",Dubois,06 12 34 56 79,,yes\n'
    )
    return write(tmp / "bom.csv", "\ufeff" + body, "utf-8")


def xlsx(tmp: Path, rows: list[list[object]], header: list[str] | None = None) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(header or ["Nom", "Prénom", "Téléphone", "Consentement", "Note"])
    for row in rows:
        ws.append(row)
    path = tmp / "liste.xlsx"
    wb.save(path)
    return path
