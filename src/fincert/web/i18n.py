"""The pages' words in Korean (the default) and English, and domain errors in the page's language.

The catalogue is data: ``MESSAGES[key] = (korean, english)``, with ``{name}`` placeholders.
Domain errors carry an English ``detail`` (the API's language); ``error_text`` turns one into
the page's language by its kind, field and the detail's shape (for instance the attempts left),
so a Korean page never shows an English sentence. The Korean wording follows the seed guide.
"""

from __future__ import annotations

import re

from fincert.errors import FincertError
from fincert.logs import mask_resident_numbers

LANGUAGES = ("ko", "en")

MESSAGES: dict[str, tuple[str, str]] = {
    "brand": ("fincert 금융인증서", "fincert certificates"),
    "footer": ("fincert — 금융인증서·공동인증서 발급 서비스 (오픈 소스)", "fincert — an open-source financial certificate service"),
    "nav.skip": ("본문으로 건너뛰기", "Skip to content"),
    "nav.label": ("주 메뉴", "Main menu"),
    "nav.issue": ("인증서 발급", "Get a certificate"),
    "nav.reissue": ("인증서 재발급", "Reissue"),
    "nav.certificates": ("내 인증서", "My certificates"),
    "nav.sign": ("전자서명", "Sign"),
    "nav.outbox": ("문자·메일함 (데모)", "Message outbox (demo)"),
    "nav.console": ("기관 콘솔", "Institution console"),
    "nav.holder": ("고객 화면", "Holder pages"),
    "nav.switch": ("English", "한국어"),
    "nav.hello": ("{name}님", "Signed in as {name}"),
    "nav.logout": ("로그아웃", "Log out"),
    "demo.banner": ("데모 모드입니다. 문자·메일 인증번호는 '문자·메일함'에 표시됩니다.", "Demo mode: SMS and e-mail codes appear in the message outbox."),
    "steps.label": ("진행 단계", "Progress"),
    "step.institution": ("금융기관 선택", "Choose an institution"),
    "step.signup": ("회원 가입", "Sign up or log in"),
    "step.apply": ("인증서 신청", "Apply"),
    "step.verify": ("본인 확인", "Verify your identity"),
    "step.store": ("인증서 다운로드 및 저장", "Download and store"),
    "step.reissue.apply": ("재발급 신청", "Apply for reissuance"),
    "step.reissue.process": ("재발급 절차 진행", "Reissuance in progress"),
    "home.title": ("금융인증서, 한 번 발급으로 모든 금융기관에서", "One financial certificate for every institution"),
    "home.lead": (
        "금융인증서는 인터넷뱅킹, 전자상거래, 공공기관 민원에서 본인임을 증명하고 전자서명을 하는 전자 신분증입니다.",
        "A financial certificate is an electronic ID: it proves who you are and signs for you in internet banking, e-commerce and public services.",
    ),
    "home.what": ("금융인증서란?", "What is it?"),
    "home.what.text": (
        "공인된 인증기관이 발급한 인증서로 전자서명을 하면 자필 서명과 같은 법적 효력(부인 방지)이 있습니다. 유효기간은 1년 또는 3년이며 만료 전에 관리해야 합니다.",
        "A signature made with a certificate from the certificate authority carries legal weight, like a handwritten one (non-repudiation). Certificates are valid for 1 or 3 years and must be managed before they expire.",
    ),
    "home.use": ("어디에 쓰나요?", "What is it for?"),
    "home.use.text": ("로그인, 계좌 이체, 대출·보험 계약, 민원 서류 발급 때 본인 확인과 전자서명에 씁니다.", "Logging in, transfers, loan and insurance contracts, and official documents."),
    "home.kinds": ("두 가지 보관 방식", "Two ways to keep it"),
    "home.kinds.text": (
        "금융인증서(클라우드 보관, 6자리 PIN, 3년)와 공동인증서(PC·USB에 파일로 보관, 1년) 중 선택할 수 있습니다.",
        "The financial certificate (kept in the cloud behind a 6-digit PIN, 3 years) or the joint certificate (a file on your PC or USB stick, 1 year).",
    ),
    "home.choose": ("인증서를 발급받을 금융기관을 선택하세요.", "Choose the institution that issues your certificate."),
    "home.none": ("등록된 금융기관이 없습니다.", "No institution is registered yet."),
    "type.bank": ("은행", "Bank"),
    "type.securities": ("증권사", "Securities"),
    "type.card": ("카드사", "Card company"),
    "type.insurance": ("보험사", "Insurer"),
    "signup.title": ("{institution} 회원 가입 또는 로그인", "Sign up or log in at {institution}"),
    "signup.new": ("처음이신가요? 회원 가입", "New here? Sign up"),
    "signup.member": ("이미 회원이신가요? 로그인", "Already a member? Log in"),
    "signup.submit": ("가입하고 계속", "Sign up and continue"),
    "login.title": ("로그인", "Log in"),
    "login.submit": ("로그인", "Log in"),
    "login.new": ("아직 회원이 아니신가요?", "Not a member yet?"),
    "f.name": ("이름", "Name"),
    "f.rrn": ("주민등록번호", "Resident registration number"),
    "f.rrn.hint": ("예: 900101-1234567", "e.g. 900101-1234567"),
    "f.phone": ("휴대폰 번호", "Mobile phone"),
    "f.phone.hint": ("예: 010-1234-5678", "e.g. 010-1234-5678"),
    "f.email": ("이메일", "E-mail"),
    "f.login_id": ("아이디", "Login ID"),
    "f.login_id.hint": ("4~32자 영문, 숫자, '.', '-', '_'", "4-32 letters, digits, '.', '-' or '_'"),
    "f.password": ("비밀번호", "Password"),
    "f.password.hint": ("8자 이상, 영문과 숫자를 함께", "At least 8 characters, letters and digits"),
    "f.password_confirm": ("비밀번호 확인", "Password again"),
    "cert.reason.choose": ("폐지 사유 선택", "Choose a reason"),
    # The console's audit page: a label for each action code (the code is shown beside it).
    "audit.member.registered": ("회원 등록", "Member registered"),
    "audit.member.signed-up": ("온라인 회원 가입", "Member signed up online"),
    "audit.member.logged-in": ("회원 로그인", "Member logged in"),
    "audit.member.login-failed": ("회원 로그인 실패", "Member login failed"),
    "audit.operator.logged-in": ("운영자 로그인", "Operator logged in"),
    "audit.operator.login-failed": ("운영자 로그인 실패", "Operator login failed"),
    "audit.operator.password-set": ("운영자 비밀번호 설정", "Operator password set"),
    "audit.credential.enrolled": ("보안수단 발급", "Identity method enrolled"),
    "audit.verification.challenged": ("본인 확인 요청", "Identity check started"),
    "audit.verification.succeeded": ("본인 확인 성공", "Identity check passed"),
    "audit.verification.failed": ("본인 확인 실패", "Identity check failed"),
    "audit.verification.locked": ("본인 확인 수단 잠김", "Identity method locked"),
    "audit.application.created": ("인증서 신청", "Application opened"),
    "audit.application.verified": ("신청 본인 확인 완료", "Application verified"),
    "audit.application.issued": ("발급 완료", "Application issued"),
    "audit.application.reissued": ("재발급 완료", "Application reissued"),
    "audit.application.renewed": ("갱신 완료", "Application renewed"),
    "audit.application.cancelled": ("신청 취소", "Application cancelled"),
    "audit.application.expired": ("신청 만료", "Application expired"),
    "audit.certificate.issued": ("인증서 발급", "Certificate issued"),
    "audit.certificate.issuance-failed": ("인증서 발급 실패", "Certificate issuance failed"),
    "audit.certificate.revoked": ("인증서 폐지·효력 정지", "Certificate revoked or put on hold"),
    "audit.certificate.hold-released": ("효력 회복", "Hold released"),
    "audit.certificate.registered": ("타기관 인증서 등록", "Certificate from another institution registered"),
    "audit.certificate.expiry-notice": ("만료 안내 발송", "Expiry notice sent"),
    "audit.operator.added": ("운영자 추가", "Operator added"),
    "audit.institution.added": ("금융기관 추가", "Institution added"),
    "audit.member.found-by-rrn": ("주민등록번호로 회원 조회", "Member looked up by resident number"),
    "console.members.search": ("이름, 회원번호 또는 휴대폰 번호로 찾기", "Find by name, member number or phone number"),
    "console.pages": ("목록 페이지", "List pages"),
    "console.page.next": ("다음 페이지", "Next page"),
    "console.page.first": ("첫 페이지", "First page"),
    "audit.cloud-key.created": ("클라우드 키 생성", "Cloud key created"),
    "audit.cloud-key.certificate-bound": ("클라우드 키에 인증서 연결", "Certificate bound to its cloud key"),
    "audit.cloud-key.destroyed": ("클라우드 키 폐기", "Cloud key destroyed"),
    "audit.cloud-key.unlocked": ("클라우드 키 사용", "Cloud key unlocked"),
    "audit.cloud-key.unlock-failed": ("PIN 오류", "Wrong PIN"),
    "audit.cloud-key.unlock-refused": ("잠긴 키 사용 거부", "Locked key refused"),
    "audit.cloud-key.locked": ("PIN 5회 오류로 잠김", "Locked after wrong PINs"),
    "audit.cloud-key.pin-changed": ("PIN 변경", "PIN changed"),
    "audit.ca.created": ("인증기관 생성", "CA created"),
    "audit.ca.service-certificate-issued": ("서비스 인증서 발급", "Service certificate issued"),
    "f.institution": ("금융기관", "Institution"),
    "apply.lead": ("{name}님, 발급받을 인증서 종류를 선택하세요. ({institution})", "{name}, choose the certificate to apply for ({institution})."),
    "apply.product": ("인증서 종류", "Certificate"),
    "apply.submit": ("신청하기", "Apply"),
    "product.financial": ("금융인증서", "Financial certificate"),
    "product.financial.text": ("클라우드에 보관하고 6자리 PIN으로 사용합니다. 유효기간 3년, 모든 금융기관에서 사용.", "Kept in the cloud, used with a 6-digit PIN. Valid 3 years, usable at every institution."),
    "product.joint": ("공동인증서", "Joint certificate (NPKI)"),
    "product.joint.text": ("PC나 USB에 파일로 보관합니다. 유효기간 1년.", "Kept as a file on your PC or USB stick. Valid 1 year."),
    "verify.lead.issue": ("등록된 보안카드, OTP 또는 생체 인증 중 하나로 본인임을 확인합니다.", "Prove it is you with your security card, OTP or biometrics."),
    "verify.lead.reissue": ("재발급에는 보안카드·OTP·생체 인증 중 하나와 등록된 휴대폰 또는 이메일 인증이 필요합니다.", "Reissuance needs a security card, OTP or biometrics, plus a code sent to your registered phone or e-mail."),
    "verify.lead.manage": ("인증서 폐지·등록 전에 본인임을 확인합니다.", "Prove it is you before revoking or registering a certificate."),
    "verify.done": ("완료된 확인", "Done"),
    "verify.missing": ("남은 확인", "Still needed"),
    "verify.complete": ("본인 확인이 끝났습니다. 다음 단계로 진행하세요.", "Your identity is verified. Continue to the next step."),
    "verify.submit": ("확인", "Verify"),
    "verify.next": ("다음 단계", "Next step"),
    "verify.back": ("내 인증서로 돌아가기", "Back to my certificates"),
    "verify.restart.issue": ("처음부터 다시 신청", "Apply again"),
    "verify.restart.reissue": ("처음부터 다시 재발급 신청", "Apply for reissuance again"),
    "login.expired": ("로그인 시간이 지났습니다. 다시 로그인하면 하던 단계로 돌아갑니다.", "Your session has expired. Log in again to go back to where you were."),
    "verify.not_enrolled": ("등록되어 있지 않습니다. 금융기관 창구나 콘솔에서 등록하세요.", "Not enrolled: ask your institution to enroll it."),
    "or": ("또는", "or"),
    "method.login": ("로그인", "Login"),
    "method.otp": ("OTP", "OTP"),
    "method.security-card": ("보안카드", "Security card"),
    "method.webauthn": ("생체 인증 (지문·얼굴)", "Biometrics (fingerprint, face)"),
    "method.sms": ("휴대폰 문자", "SMS"),
    "method.email": ("이메일", "E-mail"),
    "otp.code": ("OTP 6자리 번호", "6-digit OTP code"),
    "otp.secret": ("OTP 비밀키", "OTP secret"),
    "card.title": ("보안카드", "Security card"),
    "card.serial": ("보안카드 일련번호", "Card serial number"),
    "card.start": ("보안카드 번호 입력하기", "Answer with my security card"),
    "card.prompt": ("일련번호 끝자리 {hint}인 보안카드를 보고 입력하세요.", "Read the card whose serial ends in {hint}."),
    "card.first": ("{cell}번 칸의 앞 2자리", "First two digits of cell {cell}"),
    "card.second": ("{cell}번 칸의 뒤 2자리", "Last two digits of cell {cell}"),
    "bio.verify": ("생체 인증으로 확인", "Verify with biometrics"),
    "bio.register": ("이 기기의 생체 인증 등록", "Register this device's biometrics"),
    "bio.register_first": ("생체 인증은 보안카드나 OTP로 본인 확인을 한 뒤 등록할 수 있습니다.", "Biometrics can be registered after a security card or OTP proof."),
    "bio.registered": ("생체 인증이 등록되었습니다.", "Biometrics registered."),
    "bio.failed": ("생체 인증에 실패했습니다. 다시 시도해 주세요.", "Biometric verification failed. Please try again."),
    "bio.unsupported": ("이 브라우저는 생체 인증(WebAuthn)을 지원하지 않습니다.", "This browser does not support biometrics (WebAuthn)."),
    "code.send.sms": ("휴대폰으로 인증번호 받기", "Send a code to my phone"),
    "code.send.email": ("이메일로 인증번호 받기", "Send a code to my e-mail"),
    "code.sent": ("{to}(으)로 인증번호를 보냈습니다. 3분 안에 입력하세요.", "A code was sent to {to}. Enter it within 3 minutes."),
    "code.label": ("인증번호 6자리", "6-digit code"),
    "demo.enroll.title": ("데모: 보안카드·OTP 받기", "Demo: get a security card or OTP"),
    "demo.enroll.text": ("실제로는 금융기관이 나눠 주는 보안카드와 OTP를 데모에서는 여기서 바로 받을 수 있습니다.", "In real life your institution hands these out; in the demo you can get them here."),
    "demo.enroll.otp": ("OTP 받기", "Get an OTP"),
    "demo.enroll.security-card": ("보안카드 받기", "Get a security card"),
    "demo.handout.otp": ("OTP가 발급되었습니다: OTP 앱으로 QR 코드를 찍으세요", "Your OTP: scan the QR code with an authenticator app"),
    "demo.handout.security-card": ("보안카드가 발급되었습니다", "Your security card"),
    "demo.handout.once": ("이 내용은 한 번만 표시됩니다. 안전하게 보관하세요.", "This is shown once. Keep it safe."),
    "store.reference": ("참조번호", "Reference number"),
    "store.code": ("인가코드", "Authorization code"),
    "store.product": ("인증서 종류", "Certificate"),
    "store.lead": ("인증서를 보관할 곳을 선택하세요.", "Choose where to keep your certificate."),
    "store.cloud": ("클라우드에 보관 (금융인증서)", "Keep in the cloud"),
    "store.cloud.text": ("개인키는 금융인증서 클라우드에 보관되고, 사용할 때마다 6자리 PIN을 입력합니다. PIN을 5번 틀리면 잠깁니다.", "The private key stays in the cloud; you unlock it with a 6-digit PIN each time. Five wrong PINs lock it."),
    "store.pin": ("PIN 6자리", "6-digit PIN"),
    "store.pin.hint": ("같은 숫자 반복, 연속된 숫자, 생년월일은 쓸 수 없습니다.", "Not all the same digit, not a straight run, not your birth date."),
    "store.pin_confirm": ("PIN 다시 입력", "PIN again"),
    "store.cloud.submit": ("클라우드에 저장", "Store in the cloud"),
    "store.file": ("PC·USB에 파일로 저장", "Save as a file (PC or USB)"),
    "store.file.text": ("이 브라우저에서 키 쌍(RSA-2048)을 만들고, 인증서와 함께 비밀번호로 보호된 PKCS#12(.p12) 파일로 내려받습니다. 개인키는 서버로 전송되지 않습니다.", "This browser generates the key pair (RSA-2048) and saves it with the certificate as a password-protected PKCS#12 (.p12) file. The private key never leaves your device."),
    "store.file.password": ("인증서 비밀번호", "Certificate password"),
    "store.file.password.hint": ("10자 이상, 영문·숫자·특수문자를 모두 포함", "At least 10 characters with letters, digits and symbols"),
    "store.file.password_confirm": ("인증서 비밀번호 확인", "Certificate password again"),
    "store.file.submit": ("키 생성 후 발급", "Generate the key and get the certificate"),
    "store.file.mismatch": ("두 비밀번호가 다릅니다.", "The two passwords differ."),
    "store.file.weak": ("비밀번호는 10자 이상이며 영문, 숫자, 특수문자를 모두 포함해야 합니다.", "The password needs at least 10 characters with letters, digits and symbols."),
    "store.file.working": ("키를 만들고 인증서를 발급받는 중입니다…", "Generating the key and collecting the certificate…"),
    "store.file.failed": ("발급에 실패했습니다:", "Issuance failed:"),
    "store.file.done": ("인증서가 발급되었습니다. 파일을 내려받아 안전한 곳에 보관하세요.", "Your certificate is issued. Download the file and keep it somewhere safe."),
    "store.file.done.reissue": ("인증서가 재발급되었습니다. 파일을 내려받아 안전한 곳에 보관하세요.", "Your certificate is reissued. Download the file and keep it somewhere safe."),
    "store.file.download": ("인증서 파일 내려받기 (.p12)", "Download the certificate (.p12)"),
    "keypad.label": ("숫자 키패드", "Number keypad"),
    "keypad.clear": ("지우기", "Clear"),
    "keypad.back": ("한 자리 지우기", "Delete one digit"),
    "done.title": ("인증서가 발급되었습니다", "Your certificate is issued"),
    "done.text": ("이제 모든 금융기관에서 이 인증서로 로그인하고 전자서명할 수 있습니다.", "You can now log in and sign with it."),
    "done.title.reissue": ("인증서가 재발급되었습니다", "Your certificate is reissued"),
    "done.text.reissue": ("기존 인증서는 폐지되었습니다. 이제 새 인증서로 로그인하고 전자서명할 수 있습니다.", "The old certificate is revoked. You can now log in and sign with the new one."),
    "done.title.renew": ("인증서가 갱신되었습니다", "Your certificate is renewed"),
    "done.text.renew": ("기존 인증서는 폐지되었습니다. 새 인증서도 지금 쓰는 PIN으로 사용합니다.", "The old certificate is revoked. The renewed one keeps your current PIN."),
    "cert.serial": ("일련번호", "Serial number"),
    "cert.storage": ("보관 위치", "Kept in"),
    "cert.status": ("상태", "Status"),
    "cert.not_after": ("만료일", "Expires"),
    "cert.days_left": ("{days}일 남음", "{days} days left"),
    "cert.actions": ("관리", "Manage"),
    "cert.renew": ("갱신", "Renew"),
    "cert.revoke": ("폐지", "Revoke"),
    "cert.reason": ("폐지 사유", "Reason"),
    "cert.replaced": ("대체된 인증서", "Replaced certificate"),
    "cert.replaces": ("재발급으로 폐지될 인증서", "Certificate to be replaced"),
    "cert.revoked_ok": ("인증서가 폐지되었습니다.", "The certificate is revoked."),
    "cert.restore": ("효력 회복", "Restore"),
    "cert.locked": ("PIN을 5번 틀려 잠겼습니다.", "Locked after 5 wrong PINs."),
    "cert.locked.reissue": ("재발급하기", "Reissue it"),
    "cert.held": ("금융기관에 효력 회복을 요청하거나 재발급해 주세요.", "Ask your institution to restore it, or reissue it."),
    "cert.restored_ok": ("인증서의 효력이 회복되었습니다.", "The certificate is valid again."),
    "cert.registered_ok": ("인증서가 이 금융기관에 등록되었습니다.", "The certificate is registered at this institution."),
    "certs.caption": ("{institution}에서 발급받은 인증서", "Certificates issued through {institution}"),
    "certs.none": ("인증서가 없습니다.", "No certificates."),
    "certs.verify_hint": ("인증서를 폐지하려면 먼저 본인 확인을 해야 합니다.", "Verify your identity before revoking a certificate."),
    "storage.cloud": ("클라우드", "Cloud"),
    "storage.file": ("PC·USB 파일", "File (PC/USB)"),
    "status.active": ("유효", "Active"),
    "status.revoked": ("폐지", "Revoked"),
    "status.expired": ("만료", "Expired"),
    "status.locked": ("잠김", "Locked"),
    "renew.title": ("인증서 갱신", "Renew the certificate"),
    "renew.cloud.text": ("지금 쓰는 PIN을 입력하면 같은 PIN으로 새 인증서가 발급됩니다.", "Enter your current PIN; the renewed certificate keeps it."),
    "renew.lead": ("갱신할 인증서의 PIN을 입력하세요.", "Enter the PIN of the certificate you are renewing."),
    "renew.cloud": ("클라우드 금융인증서", "Cloud certificate"),
    "renew.pin": ("지금 쓰는 PIN 6자리", "Current 6-digit PIN"),
    "renew.cloud.submit": ("갱신하기", "Renew"),
    "register.title": ("타기관 인증서 등록", "Register a certificate from another institution"),
    "register.text": ("다른 금융기관에서 발급받은 금융인증서를 이 금융기관에서도 쓰려면 일련번호를 입력하고 본인 확인을 하세요.", "To use a financial certificate from another institution here, enter its serial number and verify your identity."),
    "register.submit": ("등록 신청", "Register"),
    "reissue.lead": ("인증서를 잃어버렸거나 PIN·비밀번호를 잊었거나 잠긴 경우, 또는 만료된 경우 재발급합니다. 재발급하면 기존 인증서는 즉시 폐지됩니다.", "Reissue when the certificate is lost, its PIN or password forgotten, locked, or expired. The old certificate is revoked at once."),
    "reissue.current": ("현재 인증서", "Your certificates"),
    "reissue.reason": ("재발급 사유", "Why reissue?"),
    "reissue.submit": ("재발급 신청", "Apply for reissuance"),
    "reason.lost": ("분실 (개인키 유출 가능성)", "Lost (key may be compromised)"),
    "reason.forgotten": ("PIN·비밀번호 분실", "Forgotten PIN or password"),
    "reason.locked": ("잠김", "Locked"),
    "reason.expired": ("만료", "Expired"),
    "reason.unspecified": ("사유 없음", "Unspecified"),
    "reason.keyCompromise": ("개인키 유출", "Key compromise"),
    "reason.cACompromise": ("인증기관 키 유출", "CA compromise"),
    "reason.affiliationChanged": ("소속 변경", "Affiliation changed"),
    "reason.superseded": ("재발급으로 대체", "Superseded"),
    "reason.cessationOfOperation": ("사용 중지", "No longer used"),
    "reason.certificateHold": ("효력 정지", "On hold"),
    "reason.removeFromCRL": ("정지 해제", "Removed from CRL"),
    "reason.privilegeWithdrawn": ("권한 철회", "Privilege withdrawn"),
    "reason.aACompromise": ("속성 기관 유출", "AA compromise"),
    "process.text": ("본인 확인이 끝나 재발급이 승인되었습니다. 아래 참조번호와 인가코드로 새 인증서를 받습니다.", "Your identity is verified and the reissuance approved. The new certificate is collected with this reference number and authorization code."),
    "process.next": ("인증서 받기", "Collect the certificate"),
    "sign.title": ("전자서명", "Sign"),
    "sign.lead": ("계좌 이체나 문서에 클라우드 금융인증서나 PC·USB의 인증서 파일로 전자서명합니다.", "Sign a transfer or a document with your cloud certificate or a certificate file."),
    "sign.certificate": ("서명할 인증서", "Certificate"),
    "sign.kind": ("서명할 내용", "What to sign"),
    "sign.transfer": ("계좌 이체", "Transfer"),
    "sign.document": ("문서", "Document"),
    "sign.to_account": ("받는 계좌번호", "To account"),
    "sign.amount": ("금액(원)", "Amount (won)"),
    "sign.memo": ("메모", "Memo"),
    "sign.document_text": ("문서 내용", "Document text"),
    "sign.pin": ("인증서 PIN 6자리", "Certificate PIN"),
    "sign.submit": ("서명하기", "Sign"),
    "sign.done": ("전자서명이 완료되었습니다", "Signed"),
    "sign.content": ("서명한 내용", "Signed content"),
    "sign.signature": ("서명값 (CMS, Base64)", "Signature (CMS, base64)"),
    "sign.renewed": ("자동 갱신된 인증서", "Automatically renewed certificate"),
    "sign.none": ("클라우드에 보관된 유효한 인증서가 없습니다.", "You have no active cloud certificate."),
    "sign.locked": ("PIN을 5번 틀려 잠긴 인증서는 서명에 쓸 수 없습니다. 재발급해 주세요:", "A certificate locked after 5 wrong PINs cannot sign. Reissue it:"),
    "outbox.lead": ("데모 모드에서는 문자와 이메일이 실제로 보내지지 않고 여기에 표시됩니다.", "In demo mode, SMS and e-mail are not sent; they appear here."),
    "outbox.own": ("내게 온 메시지", "Messages to you"),
    "outbox.all": ("최근 메시지", "Recent messages"),
    "outbox.at": ("시각", "Time"),
    "outbox.channel": ("종류", "Channel"),
    "outbox.to": ("받는 곳", "To"),
    "outbox.text": ("내용", "Text"),
    "outbox.empty": ("메시지가 없습니다.", "No messages."),
    "notfound.title": ("페이지를 찾을 수 없습니다", "Page not found"),
    "notfound.home": ("처음으로", "Home"),
    "csrf.title": ("페이지가 만료되었습니다", "This page has expired"),
    "csrf.back": ("페이지 다시 열기", "Open the page again"),
    "csrf.kept": (
        "입력하신 내용은 페이지를 다시 열면 채워져 있습니다. 비밀번호와 주민등록번호는 다시 입력해 주세요.",
        "What you typed is filled in again when the page opens. Type passwords and resident registration numbers again.",
    ),
    "console.title": ("기관 콘솔", "Institution console"),
    "console.login": ("기관 운영자 로그인", "Operator login"),
    "console.username": ("운영자 아이디", "Operator username"),
    "console.members": ("회원", "Members"),
    "console.members.caption": ("우리 기관 회원", "Our members"),
    "console.members.none": ("회원이 없습니다.", "No members yet."),
    "console.methods": ("본인 확인 수단", "Identity methods"),
    "console.register": ("회원 등록", "Register a member"),
    "file.choose": ("인증서 파일 (.p12)", "Certificate file (.p12)"),
    "file.password": ("인증서 비밀번호", "Certificate password"),
    "file.open_failed": ("인증서 파일을 열 수 없습니다. 파일과 비밀번호를 확인해 주세요.", "The certificate file cannot be opened: check the file and its password."),
    "sign.file.title": ("PC·USB의 인증서 파일로 서명", "Sign with a certificate file (PC or USB)"),
    "sign.file.text": ("인증서 파일과 비밀번호로 이 브라우저에서 전자서명(CMS)을 만들고, 서버에서 서명을 검증합니다. 개인키와 비밀번호는 서버로 전송되지 않습니다.", "This browser signs (CMS) with your certificate file and its password, and the service verifies the signature. The key and the password never leave your device."),
    "sign.file.submit": ("파일 인증서로 서명하기", "Sign with the file"),
    "sign.file.working": ("서명하고 검증하는 중입니다…", "Signing and verifying…"),
    "sign.file.failed": ("서명을 검증하지 못했습니다:", "The signature could not be verified:"),
    "sign.file.valid": ("유효한 서명입니다.", "The signature is valid."),
    "sign.file.invalid": ("유효하지 않은 서명입니다.", "The signature is not valid:"),
    "certstatus.good": ("유효", "Good"),
    "certstatus.revoked": ("폐지", "Revoked"),
    "certstatus.unknown": ("알 수 없음", "Unknown"),
    "certstatus.not-checked": ("확인하지 않음", "Not checked"),
    "file.none": ("인증서 파일을 선택해 주세요.", "Choose the certificate file."),
    "problem.unauthorized": ("로그인 시간이 지났습니다. 다시 로그인해 주세요.", "Your session has expired: please log in again."),
    "problem.csrf": ("페이지를 새로 고친 뒤 다시 시도해 주세요.", "Reload the page and try again."),
    "problem.conflict": ("이미 처리되었거나 시간이 지난 신청입니다. 처음부터 다시 신청해 주세요.", "This application was already used or has expired: please apply again."),
    "problem.verification-failed": ("참조번호, 인가코드 또는 인증서 확인에 실패했습니다.", "The reference number, authorization code or certificate could not be verified."),
    "problem.invalid-input": ("입력값을 확인해 주세요.", "Check what you entered."),
    "problem.policy-violation": ("지금은 이 작업을 할 수 없습니다.", "This cannot be done now."),
    "problem.rate-limited": ("요청이 너무 많습니다. 잠시 후 다시 시도해 주세요.", "Too many requests: please try again shortly."),
    "problem.other": ("요청을 처리하지 못했습니다. 잠시 후 다시 시도해 주세요.", "The request could not be completed: please try again shortly."),
    "sign.file.amount": ("금액은 원 단위 숫자로 입력해 주세요.", "The amount must be a whole number of won."),
    "sign.file.account": ("계좌번호는 숫자와 '-'로 입력해 주세요.", "The account number is digits and '-'."),
    "sign.file.document": ("서명할 문서 내용을 입력해 주세요.", "Write the document to sign."),
    "sign.file.result": ("서명 검증 결과", "Verification result"),
    "sign.file.signer": ("서명자", "Signer"),
    "sign.file.status": ("인증서 상태", "Certificate status"),
    "renew.file.title": ("파일 인증서 갱신 ({serial}…)", "Renew the file certificate ({serial}…)"),
    "renew.file.text": ("만료까지 {days}일 남았습니다. 지금 인증서 파일로 본인임을 증명하면 이 브라우저에서 새 키를 만들어 새 인증서를 받습니다. 지금 인증서는 갱신 후 폐지됩니다.", "{days} days left. Prove possession with your current file; this browser makes a new key and gets the renewed certificate. The current certificate is revoked after renewal."),
    "renew.file.new_password": ("새 인증서 비밀번호", "New certificate password"),
    "renew.file.submit": ("새 키 생성 후 갱신", "Generate a new key and renew"),
    "renew.file.working": ("새 키를 만들고 인증서를 갱신하는 중입니다…", "Generating the new key and renewing…"),
    "renew.file.failed": ("갱신에 실패했습니다:", "Renewal failed:"),
    "renew.file.other": ("선택한 파일은 이 인증서의 파일이 아닙니다.", "The file you chose holds another certificate."),
    "renew.file.done": ("인증서가 갱신되었습니다. 새 파일을 내려받아 보관하세요.", "The certificate is renewed. Download the new file and keep it safe."),
    "renew.file.reload": ("내 인증서 새로 보기", "Refresh my certificates"),
    "open.title": ("진행 중인 신청이 있습니다", "You have an application in progress"),
    "open.text": ("다른 브라우저나 기기에서 시작한 {kind} 신청이 열려 있습니다 ({expires}까지). 이어서 진행하거나 취소하고 새로 신청하세요.", "An application for {kind}, started in another browser or device, is open (until {expires}). Continue it, or cancel it and start again."),
    "open.text.verified": ("본인 확인까지 마친 {kind} 신청이 열려 있습니다 ({expires}까지). 참조번호와 인가코드는 그 브라우저에서만 볼 수 있으니, 그 브라우저에서 마치거나 여기서 취소하세요.", "An application for {kind}, already verified, is open (until {expires}). Its reference number and code were shown only in that browser: finish it there, or cancel it here."),
    "open.resume": ("이어서 진행", "Continue it"),
    "open.cancel": ("취소하고 새로 신청", "Cancel it"),
    "open.cancelled": ("진행 중이던 신청을 취소했습니다.", "The open application is cancelled."),
    "kind.issue": ("발급", "issuance"),
    "kind.reissue": ("재발급", "reissuance"),
    "kind.renew": ("갱신", "renewal"),
    "kind.register": ("타기관 인증서 등록", "registration"),
    "console.register.submit": ("등록", "Register"),
    "console.enroll": ("보안카드·OTP 발급", "Enroll a security card or OTP"),
    "console.enroll.otp": ("OTP 발급", "Enroll an OTP"),
    "console.enroll.security-card": ("보안카드 발급", "Enroll a security card"),
    "console.handout.otp": ("OTP 발급: 고객이 OTP 앱으로 QR 코드를 찍습니다", "OTP enrolled: the holder scans the QR code"),
    "console.handout.security-card": ("보안카드 발급: 고객에게 전달하세요", "Security card enrolled: hand it to the holder"),
    "console.certificates": ("인증서", "Certificates"),
    "console.certificates.caption": ("우리 기관에서 발급한 인증서", "Certificates issued through us"),
    "console.search": ("일련번호 또는 회원번호", "Serial or member number"),
    "console.search.submit": ("찾기", "Find"),
    "console.member": ("회원", "Member"),
    "console.audit": ("감사 기록", "Audit log"),
    "console.audit.caption": ("최근 감사 기록 (최신순)", "Latest audit records"),
    "console.actor": ("행위자", "Actor"),
    "console.action": ("행위", "Action"),
    "console.subject": ("대상", "Subject"),
    "console.details": ("상세", "Details"),
    "subject.application": ("신청", "Application"),
    "subject.authority": ("인증기관", "Authority"),
    "subject.certificate": ("인증서", "Certificate"),
    "subject.cloud-key": ("클라우드 키", "Cloud key"),
    "subject.institution": ("금융기관", "Institution"),
    "subject.member": ("회원", "Member"),
    "subject.operator": ("운영자", "Operator"),
    "subject.rp-challenge": ("이용기관 본인확인 요청", "Relying-party challenge"),
    "subject.signature-evidence": ("전자서명 증거", "Signature evidence"),
    "console.demo.title": ("데모: 운영자 계정 만들기", "Demo: create an operator"),
    "console.demo.text": ("데모 모드에서는 샘플 기관의 운영자 계정을 바로 만들어 로그인할 수 있습니다.", "In demo mode you can create an operator of a sample institution and log in at once."),
    "console.demo.submit": ("운영자로 시작", "Start as operator"),
    "console.demo.created": ("운영자 {username} 계정을 만들었습니다. 비밀번호(한 번만 표시):", "Created operator {username}. Password (shown once):"),
}

# -- domain errors in the page's language --------------------------------------------------------

_FIELD_TEXT: dict[str, str] = {
    "name": "이름을 확인해 주세요 (한글 또는 영문).",
    "rrn": "주민등록번호를 확인해 주세요 (YYMMDD-GNNNNNN 형식, 올바른 날짜와 성별 자리).",
    "phone": "휴대폰 번호를 확인해 주세요 (예: 010-1234-5678).",
    "email": "이메일 주소를 확인해 주세요.",
    "login_id": "아이디는 4~32자의 영문, 숫자, '.', '-', '_'입니다.",
    "password": "비밀번호는 8~128자이며 영문과 숫자를 함께 써야 합니다.",
    "pin": "PIN은 6자리 숫자이며 같은 숫자 반복, 연속된 숫자, 생년월일은 쓸 수 없습니다.",
    "pin_confirm": "두 PIN이 다릅니다.",
    "password_confirm": "두 비밀번호가 다릅니다.",
    "q": "이름, 회원번호 또는 휴대폰 번호로 찾아 주세요 (64자 이내).",
    "before": "목록의 페이지 주소가 올바르지 않습니다. 첫 페이지부터 다시 보세요.",
    "limit": "한 페이지에 1~500건까지 볼 수 있습니다.",
    "reason": "사유를 선택해 주세요.",
    "product": "인증서 종류를 선택해 주세요.",
    "amount": "금액은 원 단위 숫자로 입력해 주세요.",
    "to_account": "계좌번호는 숫자와 '-'로 입력해 주세요.",
    "document": "서명할 문서 내용을 입력해 주세요 (64KB 이하).",
    "serial": "인증서 일련번호를 확인해 주세요.",
    "username": "운영자 아이디를 확인해 주세요.",
    "institution": "금융기관을 선택해 주세요.",
}

_METHOD_KO = {"otp": "OTP 번호", "security-card": "보안카드 번호", "sms": "인증번호", "email": "인증번호", "pin": "PIN"}

#: (kind, detail pattern) → Korean text; ``{n}`` is the pattern's first group.
_DETAIL_TEXT: tuple[tuple[str, str, str], ...] = (
    ("unauthorized", r"wrong login ID or password", "아이디 또는 비밀번호가 틀렸습니다."),
    ("unauthorized", r"wrong username or password", "운영자 아이디 또는 비밀번호가 틀렸습니다."),
    ("unauthorized", r"verify your identity", "본인 확인을 먼저 해 주세요."),
    ("unauthorized", r"not logged in|session expired", "로그인이 필요하거나 로그인 시간이 지났습니다. 다시 로그인해 주세요."),
    ("verification-failed", r"wrong PIN: (\d+) tr", "PIN이 틀렸습니다. {n}번 더 틀리면 인증서가 잠깁니다."),
    ("verification-failed", r"(?i)wrong pin|pin is wrong|pin.*wrong", "PIN이 틀렸습니다."),
    ("verification-failed", r"\((\d+) attempts left", "{what}가 틀렸습니다. {n}번 더 틀리면 잠깁니다."),
    ("verification-failed", r"\((\d+) tries left", "{what}가 틀렸습니다. {n}번 더 입력할 수 있습니다."),
    ("verification-failed", r"already used|replay", "이미 사용한 OTP 번호입니다. 다음 번호를 기다려 입력해 주세요."),
    ("verification-failed", r"expired", "입력 시간이 지났습니다. 다시 요청해 주세요."),
    ("verification-failed", r"too many wrong codes", "인증번호를 여러 번 틀렸습니다. 새 인증번호를 요청해 주세요."),
    ("verification-failed", r"no such", "요청한 인증이 없습니다. 다시 요청해 주세요."),
    ("verification-failed", r"identity not yet verified", "본인 확인이 아직 끝나지 않았습니다."),
    ("verification-failed", r"authenticator|WebAuthn", "생체 인증에 실패했습니다. 다시 시도해 주세요."),
    ("verification-failed", r"no authenticator is registered", "등록된 생체 인증이 없습니다."),
    ("verification-failed", r"reference number|authorization code", "참조번호 또는 인가코드가 맞지 않습니다."),
    # A login throttle passes by itself: it is no credential to re-register.
    ("locked", r"too many failed logins", "로그인에 여러 번 실패해 잠시 잠겼습니다. 잠시 후 다시 시도해 주세요."),
    ("locked", r"(?i)pin", "PIN을 5번 틀려 인증서가 잠겼습니다. 인증서를 재발급해 주세요."),
    ("locked", r"", "여러 번 틀려 잠겼습니다. 금융기관에서 다시 등록해야 합니다."),
    ("rate-limited", r"code was sent moments ago", "인증번호를 방금 보냈습니다. 새 인증번호는 잠시 뒤에 요청할 수 있습니다."),
    ("rate-limited", r"", "요청이 너무 많습니다. 잠시 후 다시 시도해 주세요."),
    ("conflict", r"already a member", "이미 이 금융기관의 회원입니다. 오른쪽에서 로그인해 주세요."),
    ("conflict", r"login ID is taken", "이미 사용 중인 아이디입니다."),
    ("conflict", r"already registered", "이미 등록된 회원 또는 아이디입니다."),
    ("conflict", r"open application", "진행 중인 신청이 있습니다. 끝내거나 취소한 뒤 다시 신청해 주세요."),
    ("conflict", r"expired; start again", "신청 시간이 지났습니다. 처음부터 다시 신청해 주세요."),
    ("conflict", r"no application is open", "진행 중인 신청이 없습니다. 먼저 인증서를 신청해 주세요."),
    ("conflict", r"already verified", "이미 본인 확인을 마친 신청입니다."),
    ("conflict", r"already usable at this institution", "이 인증서는 이미 이 금융기관에서 쓸 수 있습니다."),
    ("conflict", r"expired while on hold", "효력이 정지된 채 만료된 인증서입니다. 재발급해 주세요."),
    ("conflict", r"is not on hold: it is active", "효력이 정지되지 않은, 사용 중인 인증서입니다. 회복할 것이 없습니다."),
    ("conflict", r"is not on hold", "효력 정지 상태가 아닌 인증서입니다. 폐지된 인증서는 되살릴 수 없습니다."),
    ("conflict", r"already on hold", "이미 효력이 정지된 인증서입니다."),
    ("conflict", r"is on hold", "효력이 정지된 인증서입니다. 금융기관에서 효력을 회복하거나 재발급해 주세요."),
    ("conflict", r"certificate \S+ is not active: it has expired", "만료된 인증서는 갱신할 수 없습니다. 재발급해 주세요."),
    ("conflict", r"certificate \S+ is not active", "유효한 인증서가 아닙니다. 폐지되었거나 만료된 인증서입니다."),
    ("conflict", r"is revoked|is expired", "폐지되었거나 만료된 인증서입니다. 재발급해 주세요."),
    ("not-found", r"no \S+ certificate to reissue", "재발급할 인증서가 없습니다. 인증서 종류를 확인하거나 먼저 인증서를 발급받아 주세요."),
    ("not-found", r"certificate", "해당 인증서를 찾을 수 없습니다."),
    ("not-found", r"", "찾을 수 없습니다."),
    ("forbidden", r"cloud key was destroyed", "재발급으로 대체된 인증서입니다. 재발급된 새 인증서를 사용해 주세요."),
    ("forbidden", r"", "이 작업을 할 권한이 없습니다."),
    ("policy-violation", r"renewal opens (\d+) days before expiry", "갱신은 만료 {n}일 전부터 할 수 있습니다."),
    ("policy-violation", r"", "정책에 맞지 않는 요청입니다."),
    ("delivery-failed", r"", "메시지를 보내지 못했습니다. 잠시 후 다시 시도해 주세요."),
)

_KIND_TEXT = {
    "invalid-input": "입력값을 확인해 주세요.",
    "verification-failed": "확인에 실패했습니다.",
    "unauthorized": "로그인이 필요합니다.",
    "conflict": "지금 상태에서는 처리할 수 없습니다.",
}


#: The console's own wording (Korean, English) where the holder's would tell an operator to do
#: the holder's part.
_CONSOLE_DETAIL_TEXT: tuple[tuple[str, str, tuple[str, str]], ...] = (
    (
        "conflict",
        r"already a member",
        ("이미 이 금융기관의 회원입니다. 회원 목록에서 찾아 주세요.", "This person is already a member of this institution: find them in the member list."),
    ),
)


#: Errors whose API detail is no sentence for a holder in either language (it names internal
#: numbers, or says what happened but not what to do): (kind, detail pattern, (Korean, English)).
#: ``{method}`` is the method named by the pattern's first group, in the page's language.
_HOLDER_DETAIL_TEXT: tuple[tuple[str, str, tuple[str, str]], ...] = (
    (
        # The API's detail names the Korean menus in Korean (재발급, 타기관 인증서 등록).
        "conflict",
        r"(?i)active financial certificate|already holds",
        (
            "이미 유효한 금융인증서가 있습니다. 재발급하거나 이 금융기관에 타기관 인증서로 등록해 주세요.",
            "You already hold an active financial certificate (one per person): reissue it, or register it at this institution.",
        ),
    ),
    (
        "conflict",
        r"application \d+ is already verified",
        (
            "이미 본인 확인을 마친 신청입니다. 참조번호와 인가코드는 한 번만 표시되므로 처음부터 다시 신청해 주세요.",
            "This application is already verified. Its reference number and authorization code are shown only once: please apply again.",
        ),
    ),
    (
        "conflict",
        r"application \d+ is (?:issued|completed)",
        ("이 신청의 인증서는 이미 발급되었습니다. 내 인증서에서 확인해 주세요.", "The certificate of this application is already issued: see My certificates."),
    ),
    (
        "conflict",
        r"application \d+ is (?:cancelled|expired)",
        ("취소되었거나 시간이 지난 신청입니다. 처음부터 다시 신청해 주세요.", "This application was cancelled or has expired. Please apply again."),
    ),
    (
        "conflict",
        r"application \d+ expired",
        ("신청 시간이 지났습니다. 처음부터 다시 신청해 주세요.", "This application has expired. Please apply again."),
    ),
    (
        "not-found",
        r"has no (\S+) enrolled",
        ("{method} 등록되어 있지 않습니다. 금융기관 창구에서 등록해 주세요.", "You have no {method} enrolled: ask your institution to enroll one."),
    ),
    (
        # Not a mistyped serial (the field's own message): a joint certificate is not registered.
        "invalid-input",
        r"only financial certificates are registered",
        ("타기관 인증서 등록은 금융인증서만 할 수 있습니다.", "Only financial certificates can be registered at another institution."),
    ),
    (
        "policy-violation",
        r"keeps financial certificates in the cloud",
        (
            "이 서비스는 금융인증서를 클라우드에 보관합니다. 6자리 비밀번호를 정해 클라우드에 저장해 주세요.",
            "This service keeps financial certificates in the cloud: choose cloud storage and a 6-digit PIN.",
        ),
    ),
    (
        # The detail lists the policy's method groups (otp|security-card|webauthn): the page
        # shows what is still needed in words, above the message.
        "verification-failed",
        r"identity not yet verified",
        ("본인 확인이 아직 끝나지 않았습니다.", "Your identity is not verified yet: complete the checks still needed, listed above."),
    ),
    (
        # The detail names the institution by its code (BORAM); the holder knows it by name.
        "conflict",
        r"already a member",
        ("이미 이 금융기관의 회원입니다. 오른쪽에서 로그인해 주세요.", "You are already a member of this institution: log in on the right."),
    ),
    # The details below carry Korean words for the API's readers (재발급, 효력 정지).
    (
        "conflict",
        r"expired while on hold",
        ("효력이 정지된 채 만료된 인증서입니다. 재발급해 주세요.", "This certificate expired while on hold: please reissue it."),
    ),
    (
        "conflict",
        r"certificate \S+ is on hold",
        ("효력이 정지된 인증서입니다. 금융기관에서 효력을 회복하거나 재발급해 주세요.", "This certificate is on hold: ask your institution to restore it, or reissue it."),
    ),
    (
        "locked",
        r"certificate \S+ is locked after too many wrong PINs",
        ("PIN을 5번 틀려 인증서가 잠겼습니다. 인증서를 재발급해 주세요.", "This certificate is locked after too many wrong PINs: reissue it."),
    ),
    (
        "conflict",
        r"certificate \S+ is not active: it has expired",
        ("만료된 인증서는 갱신할 수 없습니다. 재발급해 주세요.", "An expired certificate cannot be renewed: please reissue it."),
    ),
    (
        "not-found",
        r"no such institution|no institution ",
        ("금융기관을 찾을 수 없습니다. 목록에서 선택해 주세요.", "No such institution: choose one from the list."),
    ),
)


def _subject_particle(word: str) -> str:
    """이 or 가 after ``word`` (이(가) when its last sound cannot be told): 보안카드가, 이메일이, OTP가."""
    last = word.rstrip()[-1:]
    if "가" <= last <= "힣":
        return "이" if (ord(last) - ord("가")) % 28 else "가"
    if last.isascii() and last.isalpha():
        # The Korean names of L, M, N and R (엘, 엠, 엔, 알) end in a consonant.
        return "이" if last.upper() in "LMNR" else "가"
    return "이(가)"


def _as_sentence(detail: str) -> str:
    """A domain error's detail (written for API clients and logs: lowercase, no full stop) as a
    sentence on an English page: a capital first letter and a closing full stop."""
    text = detail.strip()
    if not text:
        return text
    if text[0].islower() and text[0].isascii():
        text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?:" else text + "."


def error_text(error: FincertError, lang: str, subject: str | None = None, *, console: bool = False) -> str:
    """The message for ``error`` in ``lang`` (never containing what the holder typed);
    ``subject`` names what was being checked (``otp``, ``pin``…) when the error does not;
    ``console``: the reader is an institution's operator, not the holder. A message that quotes
    an identifier (a serial typed into the form) has anything shaped like a resident number masked."""
    return mask_resident_numbers(_error_text(error, lang, subject, console=console))


def _error_text(error: FincertError, lang: str, subject: str | None = None, *, console: bool = False) -> str:
    if console:
        for kind, pattern, (korean, english) in _CONSOLE_DETAIL_TEXT:
            if kind == error.kind and re.search(pattern, error.detail):
                return korean if lang == "ko" else english
    for kind, pattern, texts in _HOLDER_DETAIL_TEXT:
        match = re.search(pattern, error.detail) if kind == error.kind else None
        if match:
            method = match.group(1) if match.groups() else ""
            korean, english = MESSAGES.get(f"method.{method}", (method, method))
            if lang == "ko":
                return texts[0].format(method=korean + _subject_particle(korean))
            return texts[1].format(method=english if english.isupper() else english[:1].lower() + english[1:])
    if lang != "ko":
        return _as_sentence(error.detail)
    if error.kind == "invalid-input" and error.field in _FIELD_TEXT:
        return _FIELD_TEXT[error.field]
    what = _METHOD_KO.get(error.field or subject or "", "입력한 번호")
    for kind, pattern, text in _DETAIL_TEXT:
        if kind != error.kind:
            continue
        match = re.search(pattern, error.detail)
        if match:
            n = match.group(1) if match.groups() else ""
            method = MESSAGES.get(f"method.{n}", (n, n))[0] if kind == "not-found" else ""
            return text.format(n=n, what=what, method=method)
    return _KIND_TEXT.get(error.kind, "요청을 처리하지 못했습니다. 다시 시도해 주세요.")


class Catalogue:
    """``t(key, **values)`` for one language; an unknown key shows itself (tests catch those)."""

    def __init__(self, lang: str) -> None:
        self.lang = lang if lang in LANGUAGES else "ko"
        self._index = LANGUAGES.index(self.lang)

    def __call__(self, key: str, **values: object) -> str:
        entry = MESSAGES.get(key)
        if entry is None:
            return key
        text = entry[self._index]
        return text.format(**values) if values else text
