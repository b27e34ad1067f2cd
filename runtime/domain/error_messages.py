"""Error messages in Bahasa Indonesia, keyed by the machine-readable error code.

The API answers in the language ``Accept-Language`` prefers (English by default); the code
and details never change. An English message may name specifics (an e-mail, a template);
the Indonesian one says the same thing generally, and the details still carry the specifics.
A code missing here falls back to the English message (a test keeps the catalogue complete).
"""

from __future__ import annotations

LOCALES = ("en", "id")

INDONESIAN: dict[str, str] = {
    # generic HTTP answers
    "bad_request": "Permintaan tidak valid.",
    "unauthorized": "Anda belum masuk.",
    "forbidden": "Anda tidak boleh melakukan ini.",
    "not_found": "{what} tidak ditemukan.",
    "method_not_allowed": "Metode ini tidak diizinkan di alamat ini.",
    "conflict": "Permintaan bentrok dengan keadaan saat ini.",
    "payload_too_large": "Isi permintaan terlalu besar.",
    "unsupported_media_type": "Jenis isi permintaan tidak didukung.",
    "validation_error": "Permintaan tidak valid.",
    "too_many_requests": "Terlalu banyak permintaan; coba lagi nanti.",
    # sign-in and sessions
    "not_authenticated": "Token akses (bearer) diperlukan.",
    "invalid_token": "Token akses tidak valid atau sudah kedaluwarsa.",
    "invalid_refresh_token": "Token penyegaran tidak ada, tidak valid, atau sudah kedaluwarsa.",
    "invalid_credentials": "E-mail atau kata sandi salah.",
    "tenant_required": "E-mail ini terdaftar di beberapa tenant; sebutkan tenant yang dimaksud.",
    "too_many_attempts": "Terlalu banyak percobaan masuk yang gagal dari sini; coba lagi nanti.",
    "wrong_password": "Kata sandi saat ini salah.",
    "weak_password": "Kata sandi terlalu lemah; gunakan frasa lebih panjang dari kata-kata acak.",
    "invalid_internal_token": "Token internal salah.",
    # permissions, agents, roles, teams
    "permission_denied": "Tindakan ini memerlukan izin yang tidak Anda miliki.",
    "permission_not_held": "Anda tidak dapat memberikan izin yang tidak Anda miliki.",
    "unknown_permission": "Izin tidak dikenal.",
    "agent_disabled": "Agen ini dinonaktifkan.",
    "email_taken": "Sudah ada agen dengan e-mail ini.",
    "self_lockout": "Anda tidak dapat menghapus, menonaktifkan, atau mengubah peran diri sendiri.",
    "last_admin": "Ini admin aktif terakhir tenant; jadikan agen lain admin terlebih dahulu.",
    "builtin_role": "Peran bawaan tidak dapat diubah; buat peran kustom.",
    "own_role": "Anda tidak dapat mengubah atau menghapus peran yang Anda pegang.",
    "role_in_use": "Masih ada agen dengan peran ini; beri mereka peran lain dahulu.",
    "not_a_member": "Agen ini bukan anggota tim tersebut.",
    "tenant_exists": "Tenant dengan slug ini sudah ada.",
    "invalid_cursor": "Kursor halaman tidak valid.",
    "unknown_reference": "Ada id yang tidak dikenal.",
    # contacts, the pool, imports
    "phone_taken": "Sudah ada kontak dengan nomor telepon ini.",
    "already_assigned": "Kontak ini sudah ditugaskan; tidak ada di pool.",
    "not_assigned": "Kontak ini sudah ada di pool.",
    "not_in_your_pool": "Kontak ini ada di pool tim lain.",
    "not_yours": "Hanya agen yang ditugaskan atau supervisor yang dapat melepas kontak ini.",
    "contact_has_no_phone": "Pelanggan ini hanya dikenal lewat id pengguna WhatsApp; "
    "tambahkan nomor teleponnya ke kontak untuk membalas.",
    "too_many_rows": "Impor melebihi jumlah baris maksimum.",
    "empty_file": "Berkas tidak memiliki baris judul.",
    "invalid_encoding": "Berkas bukan teks UTF-8; simpan sebagai CSV UTF-8.",
    "malformed_csv": "Berkas CSV rusak.",
    "invalid_mapping": "Pemetaan kolom tidak valid.",
    "mapped_column_missing": "Berkas tidak memiliki kolom yang dipetakan.",
    "missing_phone_column": "Kolom telepon tidak ditemukan; beri nama 'phone' atau petakan satu.",
    "template_text_too_long": "Dengan parameter ini teks template melebihi batas panjang WhatsApp.",
    "missing_parameter": "Kontak ini tidak memiliki nilai yang dibutuhkan dan tidak ada cadangan.",
    # consent
    "already_on_list": "Nomor ini sudah ada di daftar jangan-dihubungi.",
    "keyword_conflict": "Kata kunci tidak boleh sekaligus untuk berhenti dan ikut berlangganan.",
    # senders
    "sender_exists": "Nomor ini sudah terdaftar.",
    "sender_not_proven": "WhatsApp tidak mengonfirmasi nomor ini untuk token akses dan WABA ini.",
    "sender_token_unavailable": "Token akses pengirim tidak dapat dibaca.",
    "sender_withdrawn": "Pengirim yang sudah ditarik tidak dapat diubah.",
    "sender_not_allocated": "Pengirim ini tidak dialokasikan untuk Anda.",
    "no_sender_allocated": "Tidak ada nomor aktif yang dialokasikan.",
    "no_healthy_sender": "Tidak ada nomor sehat yang boleh memulai percakapan baru.",
    "duplicate_sender": "Sebuah nomor muncul dua kali dalam alokasi.",
    "graph_unavailable": "WhatsApp tidak dapat dihubungi tentang nomor ini; coba lagi nanti.",
    # the inbox
    "conversation_assigned_elsewhere": "Kontak ini sudah memiliki percakapan di nomor itu, "
    "yang ditugaskan ke agen lain.",
    "template_required": "Jendela layanan 24 jam sudah tertutup (atau belum pernah dibuka): "
    "hanya template yang disetujui yang dapat dikirim.",
    "template_not_approved": "Hanya template yang DISETUJUI yang dapat dikirim.",
    "template_params_mismatch": "Parameter template tidak sesuai.",
    "message_not_resendable": "Hanya pesan yang gagal atau yang hasilnya tidak diketahui "
    "yang dapat dikirim ulang.",
    # campaigns
    "invalid_audience": "Definisi audiens tidak valid.",
    "audience_in_use": "Sebuah kampanye memakai audiens ini; audiens tidak dapat dihapus.",
    "campaign_not_editable": "Hanya draf kampanye yang dapat diubah.",
    "campaign_invalid_transition": "Kampanye dalam status ini tidak dapat diubah seperti itu.",
    # the agent toolkit
    "shortcut_taken": "Pintasan ini sudah dipakai; pilih yang lain.",
    "unknown_placeholder": "Placeholder tidak dikenal: gunakan {{contact.name}}, "
    "{{contact.phone}}, {{contact.email}}, {{contact.<atribut>}} atau {{agent.name}}.",
    "label_name_taken": "Label dengan nama ini sudah ada.",
    "mention_unknown_agent": "Hanya agen aktif di workspace ini yang dapat disebut.",
    # Meta's webhooks (machines read these, but the catalogue stays complete)
    "invalid_signature": "X-Hub-Signature-256 tidak cocok dengan isi permintaan.",
    "malformed_json": "Isi permintaan bukan JSON yang valid.",
    "unexpected_object": "Yang diharapkan notifikasi whatsapp_business_account.",
    "verification_failed": "hub.mode atau hub.verify_token salah.",
    "not_stored": "Webhook tidak dapat disimpan; coba lagi.",
    # rich messages and media (issue 13)
    "caption_not_allowed": "Pesan audio WhatsApp tidak boleh memiliki keterangan.",
    "caption_too_long": "Keterangan terlalu panjang (paling banyak 1024 karakter).",
    "interactive_invalid": "Pesan interaktif ini melanggar batas WhatsApp.",
    "media_not_failed": "File ini tidak gagal diambil; tidak ada yang perlu diulang.",
    "media_not_ready": "File ini belum tersedia.",
    "media_not_stored": "File pesan ini tidak disimpan di sini.",
    "media_too_large": "File terlalu besar untuk WhatsApp.",
    "message_not_sent_yet": "Pesan itu belum sampai ke WhatsApp; balas atau beri reaksi nanti.",
    "reaction_invalid": "Reaksi harus satu emoji.",
    "reaction_target_unknown": "Pesan yang diberi reaksi tidak ada di percakapan ini.",
    "reply_target_unknown": "Pesan yang dibalas tidak ada di percakapan ini.",
    "template_param_invalid": "Parameter template tidak sesuai dengan komponennya.",
    "unsupported_media_kind": "Jenis media ini tidak didukung WhatsApp.",
}

# Names ``NotFound(what)`` uses, for "{what} tidak ditemukan."
NOUNS_ID: dict[str, str] = {
    "A contact in your pool": "Kontak di pool Anda",
    "Agent": "Agen",
    "Alert webhook": "Webhook peringatan",
    "Audience": "Audiens",
    "Campaign": "Kampanye",
    "Canned response": "Balasan cepat",
    "Contact": "Kontak",
    "Conversation": "Percakapan",
    "ImportJob": "Tugas impor",
    "Internal API": "API internal",
    "Label": "Label",
    "Message": "Pesan",
    "Page": "Halaman",
    "Role": "Peran",
    "Sender": "Pengirim",
    "SenderAlert": "Peringatan pengirim",
    "Team": "Tim",
    "Template": "Template",
}


def preferred_locale(accept_language: str | None) -> str:
    """The supported locale ``Accept-Language`` ranks highest (``en`` when none is named)."""
    best, best_q = "en", 0.0
    for part in (accept_language or "").split(","):
        tag, _, params = part.strip().partition(";")
        base = tag.strip().lower().split("-")[0]
        if base not in LOCALES:
            continue
        q = _quality(params)
        if q > best_q:
            best, best_q = base, q
    return best


def _quality(params: str) -> float:
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.strip() == "q":
            try:
                return float(value)
            except ValueError:
                return 0.0
    return 1.0


def localized(code: str, english: str, locale: str, what: str | None = None) -> str:
    """The message for ``code`` in ``locale``; ``what`` names the missing object of a 404."""
    if locale != "id" or code not in INDONESIAN:
        return english
    return INDONESIAN[code].replace("{what}", NOUNS_ID.get(what or "", what or "Objek"))
